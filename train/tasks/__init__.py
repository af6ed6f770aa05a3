"""Tasks: what is learned (the interface is train/tasks/base.py). One module per task; `config.task` picks one."""
from __future__ import annotations

from train import defaults, errors
from train.tasks.base import Task
from train.tasks.classification import ClassificationTask
from train.tasks.graph import GraphTask
from train.tasks.language_model import LanguageModelTask
from train.tasks.parity import ParityTask
from train.tasks.regression import RegressionTask
from train.tasks.seq2seq import Seq2SeqTask

TASKS = {task.name: task for task in
         (ClassificationTask, Seq2SeqTask, LanguageModelTask, ParityTask, GraphTask, RegressionTask)}


def create_task(config) -> Task:
  errors.check_name("task", config.task, TASKS)
  task = TASKS[config.task].from_config(config)
  if task.data_name and config.dataset != defaults.base_config().dataset:
    raise errors.UserError(f"dataset={config.dataset!r}: task {config.task!r} makes its own data "
                           f"({task.data_name}); accepted: leave dataset unset, or a task that reads it")
  return task
