from setuptools import find_packages, setup

PACKAGE = "gr00t_gr1_bridge"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    # fourier-grx-client is deliberately not a dependency: it pins eclipse-zenoh==0.11.0rc3 and is
    # installed on a path of its own (docker/requirements-fourier-grx.txt, GR00T_GRX_SITE).
    install_requires=["setuptools", "numpy"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="gr00t-ros maintainers",
    maintainer_email="maintainers@gr00t-ros.dev",
    description="ROS 2 bridge to a real Fourier GR-1 through fourier-grx-client, behind the gr00t-ros safety layer.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "gr1_bridge_node = gr00t_gr1_bridge.gr1_bridge_node:main",
            "fake_grx_server = gr00t_gr1_bridge.fake_grx_server:main",
        ]
    },
)
