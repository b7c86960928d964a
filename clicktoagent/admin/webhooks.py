"""Admin for received webhook deliveries."""
