"""A minimal Django project that uses roleplay_models for its MongoDB data."""

import os

SECRET_KEY = "example-only"
DEBUG = True
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["roleplay_models.django.RoleplayModelsConfig"]
MIDDLEWARE = ["roleplay_models.django.RoleplayErrorsMiddleware"]
ROOT_URLCONF = "urls"
DATABASES = {}
MONGODB_SETTINGS = {"host": os.environ.get("MONGODB_URI", "mongodb://localhost:27017/roleplay")}
