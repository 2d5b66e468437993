from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gr00t_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        ("bin", glob("scripts/gr00t-*")),
    ],
    install_requires=["setuptools", "pyyaml"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="gr00t-ros maintainers",
    maintainer_email="maintainers@gr00t-ros.dev",
    description="Launch files and the gr00t-launch runner for gr00t-ros.",
    license="Apache-2.0",
    entry_points={"console_scripts": ["gr00t_launch = gr00t_bringup.runner:main"]},
)
