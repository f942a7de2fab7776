"""Red-team runs: prompt-injection attack sets through the real answer pipeline and model."""
