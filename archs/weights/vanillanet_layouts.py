"""Layouts of the VanillaNet authors' state_dicts (huawei-noah/VanillaNet models/vanillanet.py), both forms."""
from archs.weights.convert import Layout, Rule

_HEAD = dict(head=("head",), head_pattern=r"cls.*")

TRAIN = Layout(source="VanillaNet (train form)", **_HEAD, rules=(
    Rule(r"stem1\.0", "stem/conv1"), Rule(r"stem1\.1", "stem/bn1"), Rule(r"stem2\.0", "stem/conv2"),
    Rule(r"stem2\.1", "stem/bn2"), Rule(r"stem2\.2", "stem/act/conv"), Rule(r"stem2\.2\.bn", "stem/act/bn"),
    Rule(r"stages\.(\d+)\.conv1\.0", r"stages_\1/conv1"), Rule(r"stages\.(\d+)\.conv1\.1", r"stages_\1/bn1"),
    Rule(r"stages\.(\d+)\.conv2\.0", r"stages_\1/conv2"), Rule(r"stages\.(\d+)\.conv2\.1", r"stages_\1/bn2"),
    Rule(r"stages\.(\d+)\.act", r"stages_\1/act/conv"), Rule(r"stages\.(\d+)\.act\.bn", r"stages_\1/act/bn"),
    Rule(r"cls1\.2", "head/conv1"), Rule(r"cls1\.3", "head/bn1"), Rule(r"cls2\.0", "head/conv2"),
))

DEPLOY = Layout(
    source="VanillaNet (deploy form)", **_HEAD, model_kwargs={"deploy": True},
    note="deploy=True: the checkpoint of the fused form (after the authors' switch_to_deploy)",
    rules=(Rule(r"stem\.0", "stem/conv"), Rule(r"stem\.1", "stem/act/conv"),
           Rule(r"stages\.(\d+)\.conv", r"stages_\1/conv"), Rule(r"stages\.(\d+)\.act", r"stages_\1/act/conv"),
           Rule(r"cls\.2", "head/conv")))

_NAMES = [f"vanillanet_{d}" for d in range(5, 14)] + ["vanillanet_13_x1_5", "vanillanet_13_x1_5_ada_pool"]
TRAIN_LAYOUTS = {name: TRAIN for name in _NAMES}
DEPLOY_LAYOUTS = {name: DEPLOY for name in _NAMES}
