"""Sphinx configuration: the guide (the README's sections) and the API reference."""

import roleplay_models

project = "roleplay_models"
author = "roleplay_models developers"
release = version = roleplay_models.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
html_theme = "furo"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
# mongoengine and pymongo objects are described by their own sites, not by this one
nitpicky = False
exclude_patterns = ["_build"]
