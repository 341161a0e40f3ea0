"""The machinery every model stands on: fields, the base Document and QuerySet, the fast paths
that build, load, validate and encode documents, timestamps, reference checks, the API-JSON
serializer, pages, argument checks and size limits."""
