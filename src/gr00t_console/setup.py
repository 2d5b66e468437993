from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gr00t_console"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["static/*.html", "static/*.js", "static/*.css", "static/vendor/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # The gr00t-<verb> tools, once: lib/<pkg>/tools, where `ros2 run <pkg> gr00t-<verb>` finds them
        # (it searches lib/<pkg> and below) and which hook/tools_path.dsv (colcon.pkg) puts on PATH.
        (f"lib/{PACKAGE}/tools", glob("scripts/gr00t-*")),
        (f"share/{PACKAGE}/hook", ["hook/tools_path.dsv"]),
    ],
    install_requires=["setuptools", "aiohttp", "pillow", "numpy", "foxglove-sdk"],
    extras_require={"test": ["pytest", "hypothesis", "playwright"]},
    zip_safe=False,
    maintainer="gr00t-ros maintainers",
    maintainer_email="maintainers@gr00t-ros.dev",
    description="The operator's console for gr00t-ros: gr00t-operator (command line) and a browser console node.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "console_node = gr00t_console.console_node:main",
        ]
    },
)
