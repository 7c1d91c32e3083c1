"""A small insurance research platform: analysts, their research items, and LLM prompts."""
