"""Route modules: each registers its handlers on the listener's route table."""
