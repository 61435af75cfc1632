"""Test support: helpers shared by several test layers (not tests themselves)."""
