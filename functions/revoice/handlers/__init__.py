"""Thin Lambda entry points: parse the event, call one pipeline function, answer."""
