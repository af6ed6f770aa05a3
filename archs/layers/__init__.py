"""Shared building blocks of the model files."""
from archs.layers.activations import ACTIVATIONS, get_activation
from archs.layers.drop_path import DropPath
