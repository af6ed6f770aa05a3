"""The training loop: `train_and_evaluate(config, workdir) -> summary dict` (also callable from a notebook)."""
from __future__ import annotations

import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import archs
from train import (checkpoint, data, defaults, distributed, errors, init_from, interrupt, logs, optim, pipeline,
                   scheduled_args, step as step_lib, tasks, validate)

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def largest_divisor_at_most(n: int, k: int) -> int:
  """K steps per call must divide the steps of an epoch: one compiled program, calls end at epoch ends."""
  return max(d for d in range(1, max(1, min(n, k)) + 1) if n % d == 0)


def _cadence(what: str, epochs: float, steps: int, steps_per_epoch: int) -> int:
  """Steps between two logs or saves: `epochs` of this run's epochs, or `steps` (both 0: off)."""
  if epochs > 0 and steps > 0:
    raise errors.UserError(f"{what}_every_epochs={epochs} and {what}_every_steps={steps} both set; accepted: one "
                           f"of them, the other 0")
  return max(1, round(epochs * steps_per_epoch)) if epochs > 0 else steps


def _crossed(step: int, k: int, every: int) -> bool:
  return every > 0 and step // every > (step - k) // every


def _host_sum(outputs: list):
  """The eval batches' metric sums added on the host, in batch order. (Adding the pmap'd outputs with jnp on the
  devices aborted XLA:CPU in a non-Python thread, rarely, under the fake 8-device tests.)"""
  return functools.reduce(lambda a, b: jax.tree.map(np.add, a, b), jax.device_get(outputs))


def train_and_evaluate(config, workdir: str) -> dict:
  t_start = time.perf_counter()
  # ---------------------------------------------------------------- config
  defaults.check_keys(config)
  validate.check_values(config)
  validate.check_workdir(workdir)
  errors.check_name("model", config.model, archs.list_models())
  errors.check_name("dtype", config.dtype, DTYPES)
  errors.check_name("optimizer", config.optimizer.name, optim.OPTIMIZERS)
  errors.check_name("schedule", config.schedule.name, optim.SCHEDULES)
  to_deploy = archs.get_to_deploy(config.model) if config.export_deploy else None
  if config.export_deploy and to_deploy is None:
    deployable = [m for m in archs.list_models() if archs.get_to_deploy(m)]
    raise errors.UserError(f"export_deploy: model {config.model!r} has no deploy form; accepted: "
                           f"{', '.join(deployable) or 'none registered'}")

  # ---------------------------------------------------------------- devices
  if config.distributed and not jax.distributed.is_initialized():  # train.main joins before; a notebook here
    distributed.initialize(config.distributed)
  process_index, process_count = jax.process_index(), jax.process_count()
  local = jax.local_devices()
  if config.num_devices and not 0 < config.num_devices <= len(local):
    raise errors.UserError(f"num_devices={config.num_devices}; accepted: 0 (all) or 1..{len(local)}")
  num_devices = config.num_devices or len(local)  # per process
  devices = step_lib.pmap_devices(num_devices)
  for name in ("batch_size", "eval_batch_size"):
    size = config[name] or config.batch_size
    if size % (num_devices * process_count):
      raise errors.UserError(f"{name}={size} is not divisible by {num_devices * process_count} devices "
                             f"({process_count} processes); accepted: multiples of {num_devices * process_count}")
  local_eval_batch = (config.eval_batch_size or config.batch_size) // process_count
  is_main = process_index == 0

  # ---------------------------------------------------------------- input
  task = tasks.create_task(config)
  # Whole sources on every host: train_epoch cuts this host's rows of each global batch (the order is the same
  # for any number of hosts); evaluation sums over hosts, so each host evaluates a strided shard.
  train_source, eval_source, info = task.datasets(config)
  if process_count > 1:
    eval_source = data.Shard(eval_source, process_index, process_count)
  tokens_per_example = task.tokens_per_example(train_source[0])
  steps_per_epoch = data.steps_per_epoch(train_source, config.batch_size)
  if steps_per_epoch == 0:
    raise errors.UserError(f"batch_size={config.batch_size} is larger than the {len(train_source)} training "
                           f"examples; accepted: at most {len(train_source)}")
  k = largest_divisor_at_most(steps_per_epoch, config.steps_per_call)
  workers = pipeline.resolve_workers(config.data_workers, train_source)
  total_steps = config.num_epochs * steps_per_epoch
  log_every = _cadence("log", config.log_every_epochs, config.log_every_steps, steps_per_epoch)
  checkpoint_every = _cadence("checkpoint", config.checkpoint_every_epochs, config.checkpoint_every_steps,
                              steps_per_epoch)
  num_eval = data.num_eval_batches(len(eval_source) * process_count, process_count, local_eval_batch)

  # ---------------------------------------------------------------- model, optimizer, scheduled arguments
  model_kwargs = {**task.model_overrides(config, info), **init_from.model_options(config), **dict(config.model_kwargs),
                  "dtype": DTYPES[config.dtype]}
  try:
    model = archs.create_model(config.model, **model_kwargs)
  except archs.UnknownModelError as e:
    raise errors.UserError(str(e)) from None
  tx, lr_schedule = optim.make_optimizer(config, steps_per_epoch)
  schedules = scheduled_args.ScheduledArgs(config.scheduled_args, steps_per_epoch)

  # ---------------------------------------------------------------- shapes before allocating
  example = jax.tree.map(lambda x: np.asarray(x)[None], train_source[0])
  try:
    abstract = step_lib.abstract_state(task, model, tx, example, schedules.at(0), config.seed, config.ema_decay > 0)
  except (ValueError, TypeError) as e:
    if not _rejects_input(e):
      raise
    shapes = {k_: tuple(np.shape(v)) for k_, v in example.items()}
    message = _image_size_message(config) if "image" in example else None
    if message:
      raise errors.UserError(message) from None
    raise errors.UserError(f"model {config.model!r} cannot take input {shapes}: "
                           f"{str(e).strip().splitlines()[0]}") from None
  num_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(abstract.params))

  # ---------------------------------------------------------------- state: restore or initialize
  ckpts = checkpoint.Checkpoints(workdir, config.keep_checkpoints)
  if ckpts.latest_step() is not None:
    try:
      validate.check_resume(config, workdir)
    except errors.UserError:
      ckpts.close()
      raise
    state = ckpts.restore(abstract)
  else:
    state = step_lib.init_state(task, model, tx, example, schedules.at(0), config.seed, config.ema_decay > 0)
    if config.init_from:  # fine-tuning: a checkpoint of this run in the workdir wins over init_from
      state = init_from.load(state, config, model_kwargs, tx)
  state = step_lib.replicate(state, devices)
  step = int(state.step)
  if ckpts.latest_step() is not None:
    logs.say(f"resumed from step {step} of {total_steps}" + (" (the run had finished)" if step >= total_steps else ""),
             is_main)
  if is_main:
    validate.write_config(config, workdir)
  logger = logs.Logger(workdir, step, enabled=is_main)
  stop = interrupt.install()
  progress = logs.Progress(total_steps, steps_per_epoch, enabled=is_main)
  calls = None  # the run's device calls (a prefetch thread when prefetch_calls > 0)
  try:

    # ---------------------------------------------------------------- compiled steps
    p_train = step_lib.make_train_step(task, model, tx, config.ema_decay, devices)
    p_eval = step_lib.make_eval_step(task, model, devices)

    def evaluate(p_eval_fn, variables, at_step):
      outputs = [p_eval_fn(variables, batch, schedules.at(at_step))
                 for batch in data.eval_batches(eval_source, local_eval_batch, num_eval, num_devices)]
      return task.summarize(_host_sum(outputs))

    # ---------------------------------------------------------------- loop
    pending, eval_results = [], None
    timer_start, examples, paused = None, 0, 0.0
    progress.start(step)
    if step < total_steps:  # one reader for the run: grain's workers read every epoch from this step on
      epoch_fn = functools.partial(data.train_epoch, train_source, config.seed, global_batch=config.batch_size,
                                   augment=config.augment, process_index=process_index, process_count=process_count)
      calls = pipeline.train_calls(pipeline.across_epochs(epoch_fn, steps_per_epoch, total_steps), step, k,
                                   num_devices, workers, config.prefetch_calls, devices)
    while step < total_steps:
      batches = next(calls)
      state, metrics = p_train(state, batches, schedules.values(step, k))
      pending.append((step, metrics))
      step += k
      progress.tick(step)
      if timer_start is None:  # the first call compiles: throughput counts from its end
        jax.block_until_ready(metrics)
        timer_start = time.perf_counter()
      else:
        examples += k * config.batch_size
      epoch_end = step % steps_per_epoch == 0
      save_now = _crossed(step, k, checkpoint_every) or step == total_steps
      if _crossed(step, k, log_every) or epoch_end or save_now:
        jax.block_until_ready(metrics)  # device time is train time; what follows (logs, eval, saves) is not
        t0 = time.perf_counter()
        train_metrics = _fetch_train_metrics(task, pending)  # raises DivergedError before anything is saved
        pending = []
        seconds = t0 - timer_start - paused
        rate = examples / seconds if seconds > 0 and examples else 0.0
        progress.update(step, train_metrics["loss"], rate, tokens_per_example)
        logger.write("train", step, {**train_metrics, "learning_rate": float(lr_schedule(step - 1)),
                                     **_throughput(rate, tokens_per_example), **_floats(schedules.at(step - 1))})
        if epoch_end:
          eval_results = evaluate(p_eval, state.eval_variables(), step)
          logger.write("eval", step, {**eval_results, "epoch": step // steps_per_epoch})
          logs.say(f"epoch {step // steps_per_epoch}/{config.num_epochs}: eval {logs.metrics_text(eval_results)}",
                   is_main)
        if save_now or epoch_end and checkpoint_every <= 0:
          ckpts.save(state)
        paused += time.perf_counter() - t0
      if stop.requested:  # SIGTERM/Ctrl-C: checked between device calls, never inside one
        if pending:
          _fetch_train_metrics(task, pending)  # a diverged state is never saved
        ckpts.save(state)
        raise interrupt.Interrupted(stop.signum, step)
    train_seconds = (time.perf_counter() - timer_start - paused) if timer_start else 0.0
    if eval_results is None:  # restored a finished run
      eval_results = evaluate(p_eval, state.eval_variables(), step)

    # ---------------------------------------------------------------- summary and deploy export
    train_rates = _throughput(examples / train_seconds if examples else 0.0, tokens_per_example)
    summary = {**{f"eval_{n}": v for n, v in eval_results.items()}, "steps": step,
               "epochs": step / steps_per_epoch, **{f"train_{n}": v for n, v in train_rates.items()},
               "model": config.model, "dataset": task.data_name or config.dataset, "num_params": num_params,
               "num_devices": num_devices * process_count, "steps_per_call": k}
    if to_deploy is not None:
      deploy_model = archs.create_model(config.model, deploy=True, **model_kwargs)
      deploy_vars = to_deploy(jax.device_get(state.eval_variables()))
      deploy_results = evaluate(step_lib.make_eval_step(task, deploy_model, devices), deploy_vars, step)
      summary.update({f"deploy_eval_{n}": v for n, v in deploy_results.items()})
      checkpoint.save_variables(os.path.join(workdir, "deploy"), deploy_vars)
    summary["wall_seconds"] = time.perf_counter() - t_start
    if is_main:
      logger.write("summary", step, summary)
      with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    rate = train_rates["examples_per_sec"]
    logs.say(f"done: {summary['epochs']:g} epochs ({step} steps) of {config.model}: eval "
             f"{logs.metrics_text(eval_results)}" + (f"; {rate:,.0f} examples/s" if rate else "") +
             f"; {summary['wall_seconds']:.0f} s; summary in {os.path.join(workdir, 'summary.json')}", is_main)
  finally:  # also when a NaN loss stops the run: TensorBoard's writer cannot close at interpreter exit (3.12)
    _close(calls)
    progress.close()
    stop.restore()
    ckpts.close()
    logger.close()
  return summary


def _image_size_message(config) -> str | None:
  """The one line that names the image size to use, when the size is what the model rejects (archs.model_info)."""
  name, size, overrides = config.model, config.image_size, dict(config.model_kwargs)
  multiple = archs.info.image_size_multiple(name, **overrides)
  if multiple > 1 and size % multiple:
    return (f"model {name!r} takes image sizes that are multiples of {multiple}, got {size}; set "
            f"--config.image_size={max(multiple, -(-size // multiple) * multiple)}")
  if overrides:  # the measured bounds are the registered model's
    return None
  smallest, largest = archs.info.min_image_size(name, measure=True), archs.info.MAX_IMAGE_SIZES.get(name)
  if smallest and size < smallest:
    return (f"model {name!r} needs images of at least {smallest}x{smallest}, got {size}x{size}; set "
            f"--config.image_size={smallest} (or larger)")
  if largest and size > largest:
    return f"model {name!r} takes images of at most {largest}x{largest}, got {size}x{size}; set --config.image_size={largest}"
  return None


def _close(calls) -> None:
  """Stops the run's reader (its prefetch thread is joined: none outlives its run)."""
  if calls is not None:
    calls.close()


def _rejects_input(e: Exception) -> bool:
  """A model rejects a setting or an input with ValueError (archs' convention; jnp's broadcasting too), and jax
  reports incompatible shapes as a TypeError that names them; any other TypeError is a bug."""
  return isinstance(e, ValueError) or "shape" in str(e)


def _throughput(examples_per_sec: float, tokens_per_example: int) -> dict:
  rates = {"examples_per_sec": examples_per_sec}
  if tokens_per_example:
    rates["tokens_per_sec"] = examples_per_sec * tokens_per_example
  return rates


def _floats(tree) -> dict:
  return {k: float(v) for k, v in tree.items()}


def _fetch_train_metrics(task, pending) -> dict:
  """The summarized train metrics of the pending calls (one device->host copy); a non-finite loss raises."""
  fetched = jax.device_get([m for _, m in pending])
  for (first_step, _), metrics in zip(pending, fetched):
    loss_sums = np.asarray(metrics["loss"][0])[0]  # device 0: the values are psum'd, identical everywhere
    bad = np.flatnonzero(~np.isfinite(loss_sums))
    if bad.size:
      raise errors.DivergedError(f"non-finite loss {loss_sums[bad[0]]} at step {first_step + int(bad[0]) + 1}; "
                                 f"stopped without saving, the last good checkpoint is kept")
  sums = jax.tree.map(lambda *xs: sum(np.asarray(x)[0].sum() for x in xs), *fetched)
  return task.summarize(sums)
