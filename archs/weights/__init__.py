"""Weights from PyTorch references: converters, `load_pretrained`, and torch-free saving of variables.

torch is imported only inside the functions that read .pth/.bin files.
"""
from archs.weights.convert import ConversionError, Layout, Rule, convert_state_dict
from archs.weights.files import load_variables, read_state_dict, save_variables
from archs.weights.layouts import for_model, models_with_layouts
from archs.weights.pretrained import from_state_dict, load_pretrained, pretrained_info

__all__ = ["ConversionError", "Layout", "Rule", "convert_state_dict", "for_model", "from_state_dict", "load_pretrained",
           "load_variables", "models_with_layouts", "pretrained_info", "read_state_dict", "save_variables"]
