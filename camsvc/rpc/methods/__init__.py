"""Method definitions, one module per room; each exports ``METHODS: list[Method]``."""
