"""A document pipeline: batches as child workflows, fan-out inside each, a long indexing step.

``DocumentPipeline`` takes a collection of document ids and:

1. splits them into batches and runs one ``AnalyzeBatch`` child workflow per batch,
   all at once (``asyncio.gather`` over ``execute_child_workflow``);
2. inside each batch, fans out: every document is loaded by its own
   ``load_document`` activity, then analysed by its own ``analyze_document``
   activity (a plain ``def``: CPU work runs in the worker's thread pool);
3. builds a search index over every document with ``build_index``, a long
   activity that heartbeats its progress. The first attempt is cut off halfway
   (a simulated restart of the index node); the next attempt reads the last
   heartbeat and carries on from there instead of starting over. Were the worker
   itself to die, ``heartbeat_timeout`` would notice within seconds rather than
   at the end of the much longer ``start_to_close_timeout``.

The documents are generated from their ids, so no storage or network is needed
and every run gives the same result. A real pipeline would pass storage keys
between activities rather than the texts themselves, to keep the history small.

Run it end to end, worker included, on whatever the settings select::

    python -m examples.documents

Or serve it with ``turnout worker examples.documents --task-queue documents``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

import turnout
from turnout import ApplicationError, RetryPolicy, activity, workflow
from turnout.config import ExecutorKind, load_settings

TASK_QUEUE = "documents"

STEP = timedelta(seconds=30)
"""start_to_close_timeout of the short activities."""

INDEX_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)

VOCABULARY = (
    "invoice", "contract", "payment", "shipment", "customer", "supplier", "warranty",
    "delivery", "refund", "audit", "ledger", "tax", "discount", "renewal", "clause",
    "signature", "deadline", "penalty", "freight", "customs", "insurance", "claim", "balance",
)  # fmt: skip
"""The words the simulated documents are made of."""
STOPWORDS = frozenset({"the", "a", "of", "and", "to", "for", "on", "with", "by", "in", "is"})


# --------------------------------------------------------------------------- data


class PipelineRequest(BaseModel):
    collection: str
    document_ids: list[str] = Field(min_length=1)
    batch_size: int = Field(default=4, gt=0)


class Batch(BaseModel):
    collection: str
    number: int
    document_ids: list[str]


class DocumentStats(BaseModel):
    document_id: str
    words: int
    sha256: str
    keywords: list[str]


class BatchReport(BaseModel):
    number: int
    documents: list[DocumentStats]


class IndexReport(BaseModel):
    index_id: str
    documents: int
    terms: int
    attempts: int
    resumed_from: int
    """How many documents an earlier attempt had indexed, read from its last heartbeat."""


class PipelineReport(BaseModel):
    collection: str
    batches: int
    documents: int
    words: int
    top_keywords: list[str]
    index: IndexReport


# --------------------------------------------------------------------------- activities


@activity.defn
async def load_document(document_id: str) -> str:
    """Read a document from (simulated) storage: its text is derived from its id."""
    seed = hashlib.sha256(document_id.encode()).digest()
    words = [VOCABULARY[b % len(VOCABULARY)] for b in seed[: 12 + seed[0] % 20]]
    return f"Document {document_id}: " + " the ".join(words) + "."


@activity.defn
def analyze_document(document_id: str, text: str) -> DocumentStats:
    """Count words, fingerprint the text, pick its keywords (CPU work: a sync activity)."""
    words = [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS]
    ranked = sorted(Counter(words).items(), key=lambda kv: (-kv[1], kv[0]))
    return DocumentStats(
        document_id=document_id,
        words=len(words),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        keywords=[word for word, _ in ranked[:3]],
    )


INDEX_NODE_RESTARTS = 1
"""Attempts of ``build_index`` that the simulated index node cuts off halfway."""


@activity.defn
async def build_index(collection: str, documents: list[DocumentStats]) -> IndexReport:
    """Write every document into the index, heartbeating after each one.

    The heartbeat carries how many documents are done; a retry starts from there.
    """
    info = activity.info()
    done = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
    resumed_from = done
    for position in range(done, len(documents)):
        await asyncio.sleep(0.02)  # writing the postings of one document
        activity.heartbeat(position + 1)
        if info.attempt <= INDEX_NODE_RESTARTS and position + 1 == len(documents) // 2:
            raise ApplicationError(
                f"index node restarted after {position + 1} documents", type="IndexUnavailable"
            )
    terms = {keyword for doc in documents for keyword in doc.keywords}
    return IndexReport(
        index_id=f"idx-{collection}",
        documents=len(documents),
        terms=len(terms),
        attempts=info.attempt,
        resumed_from=resumed_from,
    )


# --------------------------------------------------------------------------- workflows


@workflow.defn
class AnalyzeBatch:
    """One batch: load every document in parallel, then analyse them in parallel."""

    @workflow.run
    async def run(self, batch: Batch) -> BatchReport:
        texts = await asyncio.gather(
            *(
                workflow.execute_activity(load_document, doc_id, start_to_close_timeout=STEP)
                for doc_id in batch.document_ids
            )
        )
        stats = await asyncio.gather(
            *(
                workflow.execute_activity(
                    analyze_document, args=[doc_id, text], start_to_close_timeout=STEP
                )
                for doc_id, text in zip(batch.document_ids, texts, strict=True)
            )
        )
        return BatchReport(number=batch.number, documents=list(stats))


@workflow.defn
class DocumentPipeline:
    def __init__(self) -> None:
        self._batches = 0
        self._batches_done = 0
        self._indexing = False

    @workflow.run
    async def run(self, request: PipelineRequest) -> PipelineReport:
        ids, size = request.document_ids, request.batch_size
        batches = [
            Batch(collection=request.collection, number=n, document_ids=ids[start : start + size])
            for n, start in enumerate(range(0, len(ids), size))
        ]
        self._batches = len(batches)
        parent_id = workflow.info().workflow_id

        async def analyze(batch: Batch) -> BatchReport:
            report: BatchReport = await workflow.execute_child_workflow(
                AnalyzeBatch.run, batch, id=f"{parent_id}-batch-{batch.number}"
            )
            self._batches_done += 1
            return report

        reports = await asyncio.gather(*(analyze(batch) for batch in batches))
        documents = [doc for report in reports for doc in report.documents]

        self._indexing = True
        index: IndexReport = await workflow.execute_activity(
            build_index,
            args=[request.collection, documents],
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=INDEX_RETRY,
        )
        self._indexing = False

        keywords = Counter(k for doc in documents for k in doc.keywords)
        ranked = sorted(keywords.items(), key=lambda kv: (-kv[1], kv[0]))
        return PipelineReport(
            collection=request.collection,
            batches=len(batches),
            documents=len(documents),
            words=sum(doc.words for doc in documents),
            top_keywords=[keyword for keyword, _ in ranked[:5]],
            index=index,
        )

    @workflow.query
    def progress(self) -> dict[str, int | bool]:
        """Batches analysed so far, out of how many, and whether indexing is running."""
        return {
            "batches": self._batches,
            "batches_done": self._batches_done,
            "indexing": self._indexing,
        }


WORKFLOWS: list[type] = [DocumentPipeline, AnalyzeBatch]
"""What a worker for this module runs (``turnout worker`` finds the same by scanning it)."""
ACTIVITIES: list[Callable[..., Any]] = [load_document, analyze_document, build_index]


# --------------------------------------------------------------------------- running it


async def main() -> PipelineReport:
    """Run a worker in this process and one pipeline through it, end to end."""
    settings = load_settings()
    where = (
        settings.temporal_address
        if settings.executor is ExecutorKind.TEMPORAL
        else settings.database_url
    )
    client = await turnout.connect(settings=settings)
    try:
        async with turnout.Worker(
            client, task_queue=TASK_QUEUE, workflows=WORKFLOWS, activities=ACTIVITIES
        ):
            request = PipelineRequest(
                collection="contracts-2024",
                document_ids=[f"contract-{n:03d}" for n in range(1, 11)],
                batch_size=4,
            )
            handle = await client.start_workflow(
                DocumentPipeline.run,
                request,
                id=f"pipeline-{uuid.uuid4().hex[:8]}",
                task_queue=TASK_QUEUE,
            )
            print(f"executor : {client.executor} ({where})")
            print(f"pipeline : {handle.id}, {len(request.document_ids)} documents")
            report: PipelineReport = await handle.result()
            run = await handle.describe()
            print(f"batches  : {report.batches} child workflows")
            print(f"documents: {report.documents}, {report.words} words")
            print(f"keywords : {', '.join(report.top_keywords)}")
            index = report.index
            print(f"index    : {index.index_id}, {index.terms} terms; attempt {index.attempts} "
                  f"resumed at {index.resumed_from} of {index.documents} documents")  # fmt: skip
            print(f"state    : {run.state.value}")
            print("timeline :")
            for event in await handle.events():
                keys = ("activity_type", "attempt", "workflow_type", "from", "to")
                attrs = {k: v for k, v in event.attributes.items() if k in keys}
                print(f"  {event.seq:>3}  {event.type.value:<26} {attrs or ''}")
            print(f"see it again: turnout events {handle.id}")
            return report
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
