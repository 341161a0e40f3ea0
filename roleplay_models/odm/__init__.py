"""The machinery every model stands on: fields, the base Document and QuerySet, timestamps,
reference checks, the API-JSON serializer, pages, argument checks and size limits."""
