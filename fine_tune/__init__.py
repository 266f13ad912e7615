"""fine-tune: a Hydra experiment-sweep framework for LLM fine-tuning."""
