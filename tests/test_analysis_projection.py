"""Oracles for archs.analysis.projection: on a tiny conv-ReLU-maxpool-conv-ReLU-conv net, the deconvnet and guided
backpropagation equal the backward pass written out densely by hand (convolutions as matrices, max-pool switches
as a 0/1 matrix, the ReLU rules on vectors)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archs.analysis import projection


class TinyConvNet(nn.Module):
  @nn.compact
  def __call__(self, x, *, train: bool = False):
    x = nn.max_pool(nn.relu(nn.Conv(3, (3, 3), name="conv1")(x)), (2, 2), (2, 2))
    x = jax.nn.relu(nn.Conv(4, (3, 3), name="conv2")(x))
    x = nn.Conv(2, (3, 3), name="conv3")(x)
    return nn.Dense(5, name="head")(x.mean(axis=(1, 2)))


def conv_matrix(kernel, h, w):
  """M with vec(conv(x)) = M vec(x): a SAME, stride-1 convolution of an (h, w, cin) map, NHWC order."""
  kh, kw, cin, cout = kernel.shape
  m = np.zeros((h * w * cout, h * w * cin))
  for i in range(h):
    for j in range(w):
      for di in range(kh):
        for dj in range(kw):
          si, sj = i + di - kh // 2, j + dj - kw // 2
          if 0 <= si < h and 0 <= sj < w:
            for co in range(cout):
              m[(i * w + j) * cout + co, (si * w + sj) * cin:(si * w + sj + 1) * cin] = kernel[di, dj, :, co]
  return m


def pool_switches(a, h, w, c):
  """S (0/1) with vec(maxpool2x2(a)) = S vec(a): each output picks the input that won its window's max."""
  a = a.reshape(h, w, c)
  s = np.zeros((h // 2 * w // 2 * c, h * w * c))
  for i in range(h // 2):
    for j in range(w // 2):
      for ch in range(c):
        window = a[2 * i:2 * i + 2, 2 * j:2 * j + 2, ch]
        di, dj = np.unravel_index(np.argmax(window), (2, 2))
        s[(i * (w // 2) + j) * c + ch, ((2 * i + di) * w + 2 * j + dj) * c + ch] = 1
  return s


RULES = {"gradient": lambda g, x: g * (x > 0),
         "deconvnet": lambda g, x: np.maximum(g, 0),
         "guided": lambda g, x: g * (x > 0) * (g > 0)}


def by_hand(params, x, channel, rule):
  """The projection of conv3's strongest activation of `channel`, written out densely."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  m1, m2, m3 = (conv_matrix(p[n]["kernel"], *size) for n, size in (("conv1", (8, 8)), ("conv2", (4, 4)),
                                                                    ("conv3", (4, 4))))
  pre1 = m1 @ x.ravel() + np.tile(p["conv1"]["bias"], 64)
  s = pool_switches(np.maximum(pre1, 0), 8, 8, 3)
  pre2 = m2 @ (s @ np.maximum(pre1, 0)) + np.tile(p["conv2"]["bias"], 16)
  out3 = m3 @ np.maximum(pre2, 0) + np.tile(p["conv3"]["bias"], 16)
  position = np.argmax(out3.reshape(16, 2)[:, channel])
  g = np.zeros(32)
  g[position * 2 + channel] = 1.0
  g = RULES[rule](m3.T @ g, pre2)
  g = RULES[rule](s.T @ (m2.T @ g), pre1)
  return (m1.T @ g).reshape(8, 8, 1), position


@pytest.fixture(scope="module")
def net():
  model = TinyConvNet()
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 1))
  return model, model.init(jax.random.key(1), x), x


@pytest.mark.parametrize("rule", ["gradient", "deconvnet", "guided"])
def test_projection_equals_the_backward_pass_by_hand(net, rule):
  model, variables, x = net
  got, targets = projection.project(model, variables, x, "conv3", rule, channel=1)
  for b in range(len(x)):
    want, position = by_hand(variables["params"], np.asarray(x[b], np.float64), 1, rule)
    assert targets["position"][b] == position and targets["channel"][b] == 1
    np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-6, err_msg=f"{rule}, image {b}")


def test_the_rules_differ_where_the_signs_say_they_should(net):
  model, variables, x = net
  got = {r: projection.project(model, variables, x, "conv3", r, channel=0)[0] for r in projection.RULES}
  assert not np.allclose(got["guided"], got["gradient"]), "some backward signal at a ReLU is negative"
  assert not np.allclose(got["deconvnet"], got["guided"]), "the deconvnet ignores the forward sign"
  fn = lambda x: model.apply(variables, x)
  assert projection.count_relus(fn, x) == 2
  np.testing.assert_array_equal(projection.with_relu_rule(fn, "guided")(x), fn(x))  # forward values unchanged


def test_default_targets_are_the_strongest_channel_and_the_predicted_class(net):
  model, variables, x = net
  _, targets = projection.project(model, variables, x, "conv3", "guided")
  out = np.asarray(nn.Conv(2, (3, 3)).apply({"params": variables["params"]["conv3"]}, np.asarray(
      jax.nn.relu(nn.Conv(4, (3, 3)).apply({"params": variables["params"]["conv2"]}, nn.max_pool(
          jax.nn.relu(nn.Conv(3, (3, 3)).apply({"params": variables["params"]["conv1"]}, x)), (2, 2), (2, 2)))))))
  np.testing.assert_array_equal(targets["channel"], out.reshape(2, -1, 2).max(1).argmax(-1))
  np.testing.assert_allclose(targets["value"], out.reshape(2, -1).max(-1), rtol=1e-5)
  grads, classes = projection.project(model, variables, x, None, "gradient")
  logits = model.apply(variables, x)
  np.testing.assert_array_equal(classes["channel"], np.argmax(logits, -1))
  want = jax.grad(lambda x: model.apply(variables, x)[0, int(classes["channel"][0])])(x)
  np.testing.assert_allclose(grads[0], want[0], rtol=1e-4, atol=1e-6)


def test_a_model_without_relu_projects_its_gradient_and_bad_rules_are_one_line(net):
  model, variables, x = net
  tanh = lambda x: jnp.tanh(jnp.maximum(x, 0.0) * 2).sum()  # a bare maximum is not a ReLU (LayerNorm's clamp)
  assert projection.count_relus(tanh, x) == 0
  np.testing.assert_allclose(jax.grad(projection.with_relu_rule(tanh, "deconvnet"))(x), jax.grad(tanh)(x))
  with pytest.raises(ValueError, match="unknown rule 'occlusion'; accepted: gradient, deconvnet, guided"):
    projection.with_relu_rule(tanh, "occlusion")
  with pytest.raises(ValueError, match="channel 7; accepted: 0..1"):
    projection.project(model, variables, x, "conv3", channel=7)
