"""The API's controllers, one per resource, and the list the app mounts."""
