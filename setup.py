"""Map the repository's top-level stages/, pipelines/ and quality_models/ into the dataforge namespace."""
from setuptools import find_packages, setup

MAPPED = {"stages": "dataforge.stages", "pipelines": "dataforge.pipelines", "quality_models": "dataforge.quality_models"}

packages = find_packages(include=["dataforge", "dataforge.*"])
package_dir = {"dataforge": "dataforge"}
for folder, name in MAPPED.items():
    package_dir[name] = folder
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(where=folder)]

setup(packages=packages, package_dir=package_dir)
