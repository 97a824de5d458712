from setuptools import find_packages, setup

# twisted/plugins has no __init__.py (Twisted's plugin directory is shared by
# every installed project), so find_packages() cannot see it: name it here so
# that `pip install .` puts xmuc_plugin.py where `twistd` looks.
setup(packages=find_packages(include=["xmuc", "xmuc.*"]) + ["twisted.plugins"])
