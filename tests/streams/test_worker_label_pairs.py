"""The label join needs partition n of the labels topic and partition n of the predictions
topic on one worker (streams/restore.py ``_check_pairs``, ``_label_start``, mixed into
``Worker``): an assignment that splits them is refused with what to do, in both directions.
(The assignments that pair them are exercised on the broker in
tests/integration/test_run_labels.py.)"""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition
from driftline.streams.exceptions import KafkaSetupError
from driftline.streams.worker import Worker


def worker() -> Worker:
    w = Worker.__new__(Worker)   # the checks read only these two fields: no client is needed
    w.label_topics = {"labels": "preds"}
    w.tier1 = {}
    return w


def test_paired_partitions_pass() -> None:
    worker()._check_pairs([TopicPartition("preds", 0), TopicPartition("labels", 0),
                           TopicPartition("other", 3)])


def test_a_predictions_partition_without_its_labels_partition_is_refused() -> None:
    with pytest.raises(KafkaSetupError, match=r"partition 1 of predictions topic 'preds' was assigned "
                                              r"without partition 1 of labels topic 'labels'.*range"):
        worker()._check_pairs([TopicPartition("preds", 1), TopicPartition("labels", 0)])


def test_a_labels_partition_without_its_predictions_partition_is_refused() -> None:
    with pytest.raises(KafkaSetupError, match=r"partition 2 of labels topic 'labels' was assigned "
                                              r"without partition 2 of predictions topic 'preds'"):
        worker()._label_start(TopicPartition("labels", 2))
