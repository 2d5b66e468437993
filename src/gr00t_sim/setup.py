from setuptools import find_packages, setup

PACKAGE = "gr00t_sim"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools", "numpy", "mujoco", "fast-simplification", "fourier-robot-descriptions"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="gr00t-ros maintainers",
    maintainer_email="maintainers@gr00t-ros.dev",
    description="MuJoCo simulation of the Fourier GR1T2 upper body at a table, with its ROS 2 node.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "sim_node = gr00t_sim.sim_node:main",
            "scripted_teleop_node = gr00t_sim.scripted_teleop_node:main",
        ]
    },
)
