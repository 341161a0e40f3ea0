"""Sphinx configuration: the guide (the README's sections) and the API reference."""

import pathlib
import sys

import roleplay_models

sys.path.insert(0, str(pathlib.Path(__file__).parent / "_ext"))

project = "roleplay_models"
author = "roleplay_models developers"
release = version = roleplay_models.__version__

# model_fields: the models' field tables and the check that every public name is documented
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx", "model_fields"]
html_theme = "furo"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# A Document's constructor takes its fields as keywords: the field table says which, not
# "Parameters: args, values". model_fields leaves out Documents' and QuerySets' __init__.
autodoc_class_signature = "separated"
autodoc_default_options = {"show-inheritance": False}
# Set True once every public name has a docstring: each one without becomes a build error.
reference_require_docstrings = True
# mongoengine and pymongo objects are described by their own sites, not by this one
nitpicky = False
exclude_patterns = ["_build"]
