from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gr00t_description"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),
    ],
    install_requires=["setuptools", "pyyaml"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="gr00t-ros maintainers",
    maintainer_email="maintainers@gr00t-ros.dev",
    description="Robot and stack descriptions for gr00t-ros.",
    license="Apache-2.0",
)
