from setuptools import find_packages, setup

import re

with open("xosan/__init__.py") as fh:
    VERSION = re.search(r'__version__ = "([^"]+)"', fh.read()).group(1)

setup(
    name="xosan",
    version=VERSION,
    description="XOSAN: hyperconverged GlusterFS storage for XenServer / XCP-ng pools",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    license="GPL-2.0-only",
    packages=find_packages(include=["xosan", "xosan.*"]),
    python_requires=">=3.6",
    install_requires=["PyYAML", "XenAPI"],
    entry_points={"console_scripts": ["xosan = xosan.cli.main:main"]},
    classifiers=["Programming Language :: Python :: 3.6", "Operating System :: POSIX :: Linux"],
)
