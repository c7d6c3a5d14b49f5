"""Faithful device simulators, reached through the same serial code as real hardware."""
