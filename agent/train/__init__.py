"""The learning loop: datasets from episode bundles, fine-tuning Qwen2-VL, the shipped default model."""
