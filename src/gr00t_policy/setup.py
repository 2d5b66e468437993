from glob import glob

from setuptools import find_namespace_packages, setup

PACKAGE = "gr00t_policy"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_namespace_packages(include=[PACKAGE, f"{PACKAGE}.*"], exclude=[f"{PACKAGE}.model.assets*"]),
    package_data={PACKAGE: ["model/assets/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # The gr00t-<verb> tools, once: lib/<pkg>/tools, where `ros2 run <pkg> gr00t-<verb>` finds them
        # (it searches lib/<pkg> and below) and which hook/tools_path.dsv (colcon.pkg) puts on PATH.
        (f"lib/{PACKAGE}/tools", glob("scripts/gr00t-*")),
        (f"share/{PACKAGE}/hook", ["hook/tools_path.dsv"]),
    ],
    install_requires=["setuptools", "numpy", "pyyaml", "torch", "transformers", "safetensors"],
    extras_require={"test": ["pytest", "hypothesis"]},
    zip_safe=False,
    maintainer="gr00t-ros maintainers",
    maintainer_email="maintainers@gr00t-ros.dev",
    description="GR00T N1 policy library and System 2 / System 1 ROS 2 nodes.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "system2_node = gr00t_policy.ros.system2_node:main",
            "system1_node = gr00t_policy.ros.system1_node:main",
        ],
    },
)
