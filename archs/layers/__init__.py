"""Shared building blocks of the model files."""
from archs.layers.activations import ACTIVATIONS, get_activation
from archs.layers.attention import MultiHeadAttention, causal_mask, dot_product_attention, padding_mask
from archs.layers.drop_path import DropPath
from archs.layers.ffn import FeedForward
from archs.layers.positional import PositionalEncoding, sinusoidal_encoding

__all__ = ["ACTIVATIONS", "get_activation", "MultiHeadAttention", "causal_mask", "dot_product_attention",
           "padding_mask", "DropPath", "FeedForward", "PositionalEncoding", "sinusoidal_encoding"]
