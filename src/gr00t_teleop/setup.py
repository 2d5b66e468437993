from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gr00t_teleop"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # The gr00t-<verb> tools, once: lib/<pkg>/tools, where `ros2 run <pkg> gr00t-<verb>` finds them
        # (it searches lib/<pkg> and below) and which hook/tools_path.dsv (colcon.pkg) puts on PATH.
        (f"lib/{PACKAGE}/tools", glob("scripts/gr00t-*")),
        (f"share/{PACKAGE}/hook", ["hook/tools_path.dsv"]),
    ],
    install_requires=["setuptools", "pyyaml", "numpy", "mcap", "rosbags", "pyarrow", "av", "tqdm"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="gr00t-ros maintainers",
    maintainer_email="maintainers@gr00t-ros.dev",
    description="Episode recording (rosbag2 MCAP) and conversion to GR00T LeRobot datasets for gr00t-ros.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "recorder_node = gr00t_teleop.recorder_node:main",
            "leader_teleop_node = gr00t_teleop.leader_teleop_node:main",
            "joy_teleop_node = gr00t_teleop.joy_teleop_node:main",
            "keyboard_joy = gr00t_teleop.keyboard_joy:main",
        ]
    },
)
