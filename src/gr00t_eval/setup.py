from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gr00t_eval"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # The gr00t-<verb> tools, once: lib/<pkg>/tools, where `ros2 run <pkg> gr00t-<verb>` finds them
        # (it searches lib/<pkg> and below) and which hook/tools_path.dsv (colcon.pkg) puts on PATH.
        (f"lib/{PACKAGE}/tools", glob("scripts/gr00t-*")),
        (f"share/{PACKAGE}/hook", ["hook/tools_path.dsv"]),
    ],
    install_requires=["setuptools", "numpy", "matplotlib", "tqdm"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="gr00t-ros maintainers",
    maintainer_email="maintainers@gr00t-ros.dev",
    description="gr00t-eval: the GR-1 tabletop benchmark (success rates with confidence intervals, "
    "language compliance, time to success, safety interventions) with JSON and PNG reports.",
    license="Apache-2.0",
)
