"""``tidings mcp`` driven over stdio by the official MCP SDK's own client, both stores."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextResourceContents

from tidings import RunStatus

from .conftest import APP, cli_env, wait_until, worker_process
from .opsapp import make_app


def _server(url: str, cwd: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "tidings.cli", "mcp", "--app", APP, "--database-url", url],
        env=cli_env(),
        cwd=str(cwd),
    )


def _data(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    content = result.structured_content
    assert content is not None
    # A list or scalar result is wrapped as {"result": ...} by the SDK.
    return content.get("result", content) if set(content) == {"result"} else content


def _error(result: CallToolResult) -> str:
    assert result.is_error
    return " ".join(getattr(c, "text", "") for c in result.content)


async def test_mcp_tools_and_resources_over_stdio(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    url = new_url()
    make_app(url).migrate()
    async with Client(_server(url, tmp_path)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {
            "list_tasks",
            "trigger_task",
            "send_event",
            "list_runs",
            "get_run",
            "cancel_run",
            "replay_run",
            "notify",
            "get_broadcast",
            "list_waiting",
            "complete_token",
            "answer_question",
            "cancel_runs",
            "replay_runs",
            "get_bulk_action",
            "export_recipient",
            "erase_recipient",
            "retention_status",
            "prune",
        }
        tasks = _data(await client.call_tool("list_tasks", {}))
        assert [t["id"] for t in tasks] == ["approval", "charge", "churn", "hold", "nothing"]
        charge = next(t for t in tasks if t["id"] == "charge")
        assert charge["on_event"] == ["order.placed"]
        assert charge["description"].startswith("A payload validated")

        resources = {str(r.uri): r for r in (await client.list_resources()).resources}
        uri = "tidings://tasks/charge/payload-schema"
        assert set(resources) == {f"tidings://tasks/{t['id']}/payload-schema" for t in tasks}
        read = await client.read_resource(uri)
        content = read.contents[0]
        assert isinstance(content, TextResourceContents)
        schema = json.loads(content.text)
        assert schema["title"] == "Order"
        assert set(schema["required"]) == {"order_id", "amount"}
        assert schema["properties"]["amount"]["exclusiveMinimum"] == 0

        # A payload that fails the model creates no run and says which field is wrong.
        bad = _error(
            await client.call_tool(
                "trigger_task", {"task_id": "charge", "payload": {"order_id": "o1", "amount": -5}}
            )
        )
        assert "amount" in bad
        assert "greater than 0" in bad
        assert _data(await client.call_tool("list_runs", {"task_id": "charge"})) == []
        assert "unknown task 'charg'" in _error(
            await client.call_tool("trigger_task", {"task_id": "charg", "payload": {}})
        )

        started = _data(
            await client.call_tool(
                "trigger_task", {"task_id": "charge", "payload": {"order_id": "o1", "amount": 12}}
            )
        )
        assert started["created"] is True
        sent = _data(
            await client.call_tool(
                "send_event",
                {"name": "order.placed", "data": {"order_id": "o2", "amount": 3}, "id": "ev-1"},
            )
        )
        assert sent["accepted"] is True
        assert len(sent["run_ids"]) == 1
        again = _data(
            await client.call_tool(
                "send_event",
                {"name": "order.placed", "data": {"order_id": "o2", "amount": 3}, "id": "ev-1"},
            )
        )
        assert again["accepted"] is False
        assert again["run_ids"] == sent["run_ids"]

        held = _data(await client.call_tool("trigger_task", {"task_id": "hold"}))["run_id"]
        waiting = _data(await client.call_tool("trigger_task", {"task_id": "approval"}))["run_id"]
        with worker_process(url, tmp_path):
            app = make_app(url)

            def done() -> bool:
                return all(
                    app.get_run(i).status is RunStatus.COMPLETED
                    for i in (started["run_id"], *sent["run_ids"])
                )

            wait_until(done, 60, "the charge runs to complete")
            wait_until(lambda: app.get_run(held).status is RunStatus.WAITING, 60, "hold to wait")
            wait_until(lambda: app.get_run(waiting).status is RunStatus.WAITING, 60, "a token")
            listed = _data(await client.call_tool("list_waiting", {}))
            (token,) = listed["tokens"]
            assert (token["run_id"], token["name"], listed["questions"]) == (
                waiting,
                "approval",
                [],
            )
            args = {"token_id": token["id"], "data": {"ok": True}}
            completed = _data(await client.call_tool("complete_token", args))
            assert completed == {"id": token["id"], "completed": True}
            again = _data(await client.call_tool("complete_token", args))
            assert again["completed"] is False
            wait_until(lambda: app.get_run(waiting).status is RunStatus.COMPLETED, 60, "resume")
            assert app.get_run(waiting).result == {"ok": True}
            app.close()
        assert "no wait token" in _error(
            await client.call_tool("complete_token", {"token_id": "wtk_x"})
        )

        run = _data(await client.call_tool("get_run", {"run_id": started["run_id"]}))
        assert run["status"] == "COMPLETED"
        assert run["result"] == {"order": "o1", "charged": 12}
        assert [s["name"] for s in run["steps"]] == ["charge"]
        assert [line["message"] for line in run["logs"]] == ["charged order o1"]

        listed = _data(await client.call_tool("list_runs", {"status": ["completed"]}))
        assert {r["id"] for r in listed} == {started["run_id"], *sent["run_ids"], waiting}
        assert "steps" not in listed[0]
        assert len(_data(await client.call_tool("list_runs", {"limit": 1}))) == 1
        assert "unknown run status" in _error(
            await client.call_tool("list_runs", {"status": ["done"]})
        )

        cancelled = _data(await client.call_tool("cancel_run", {"run_id": held}))
        assert cancelled == {"run_id": held, "status": "CANCELLED"}
        replay = _data(await client.call_tool("replay_run", {"run_id": started["run_id"]}))
        assert replay["replay_of"] == started["run_id"]
        fresh = _data(await client.call_tool("get_run", {"run_id": replay["run_id"]}))
        assert fresh["payload"] == {"order_id": "o1", "amount": 12}
        assert fresh["replay_of"] == started["run_id"]
        assert "no run with id" in _error(await client.call_tool("get_run", {"run_id": "run_x"}))


async def test_mcp_notify_tool_reaches_one_a_list_or_a_topic(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    url = new_url()
    app = make_app(url)
    for who in ("ann", "bo"):
        app.recipients.upsert(who)
    app.topics.subscribe("team", ["ann", "bo"])
    app.close()
    async with Client(_server(url, tmp_path)) as client:
        one = _data(await client.call_tool("notify", {"type": "ping", "to": "ann"}))
        many = _data(await client.call_tool("notify", {"type": "ping", "to": ["ann", "bo"]}))
        team = _data(await client.call_tool("notify", {"type": "ping", "topic": "team"}))
        progress = _data(
            await client.call_tool("get_broadcast", {"broadcast_id": team["broadcast_id"]})
        )
        neither = _error(await client.call_tool("notify", {"type": "ping"}))
        ghost = _error(await client.call_tool("notify", {"type": "ping", "to": ["ghost"]}))
        unknown = _error(await client.call_tool("get_broadcast", {"broadcast_id": "bct_x"}))
    assert one["run_id"].startswith("run_")
    assert many["broadcast_id"].startswith("bct_")
    assert (progress["topic"], progress["total"]) == ("team", 2)
    assert "either to" in neither
    assert "'ghost'" in ghost
    assert "no broadcast" in unknown


async def test_mcp_bulk_tools_and_replay_from_a_step(
    new_url: Callable[[], str], tmp_path: Path
) -> None:
    url = new_url()
    app = make_app(url)
    app.migrate()
    orders = [{"order_id": f"o{i}", "amount": i + 1} for i in range(3)]
    queued = [h.id for h in app.trigger_many("charge", orders, delay=3600, tags=["import"])]
    async with Client(_server(url, tmp_path)) as client:
        zero = _data(await client.call_tool("replay_runs", {"status": ["FAILED"]}))
        assert (zero["total"], zero["status"]) == (0, "completed")
        assert "unknown run status 'gone'" in _error(
            await client.call_tool("cancel_runs", {"status": ["gone"]})
        )
        assert "ISO 8601" in _error(
            await client.call_tool("cancel_runs", {"created_after": "yesterday"})
        )
        action = _data(
            await client.call_tool("cancel_runs", {"task_id": ["charge"], "tags": ["import"]})
        )
        assert (action["kind"], action["total"], action["status"]) == ("cancel", 3, "running")
        done = app.trigger("charge", {"order_id": "o9", "amount": 9}).id
        with worker_process(url, tmp_path):
            wait_until(
                lambda: app.runs.bulk_action(action["id"]).status == "completed", 60, "the action"
            )
            wait_until(
                lambda: app.get_run(done).status is RunStatus.COMPLETED, 60, "the charge run"
            )
        followed = _data(await client.call_tool("get_bulk_action", {"bulk_id": action["id"]}))
        assert (followed["done"], followed["changed"], followed["progress"]) == (3, 3, 1.0)
        assert {app.get_run(r).status for r in queued} == {RunStatus.CANCELLED}

        forked = _data(
            await client.call_tool(
                "replay_run",
                {
                    "run_id": done,
                    "from_step": "charge",
                    "payload": {"order_id": "o10", "amount": 1},
                },
            )
        )
        fresh = app.get_run(forked["run_id"])
        assert (fresh.replay_of, fresh.payload) == (done, {"order_id": "o10", "amount": 1})
        assert "has no step 'chrge'" in _error(
            await client.call_tool("replay_run", {"run_id": done, "from_step": "chrge"})
        )
    app.close()


async def test_mcp_export_and_erase_a_recipient(new_url: Callable[[], str], tmp_path: Path) -> None:
    url = new_url()
    app = make_app(url)
    app.recipients.upsert("pat-zq7", email="zq7@example.com")
    app.close()
    async with Client(_server(url, tmp_path)) as client:
        exported = _data(await client.call_tool("export_recipient", {"recipient_id": "pat-zq7"}))
        unconfirmed = _error(await client.call_tool(
            "erase_recipient", {"recipient_id": "pat-zq7", "confirm": "yes"}))  # fmt: skip
        kept = _data(await client.call_tool("export_recipient", {"recipient_id": "pat-zq7"}))
        erased = _data(await client.call_tool(
            "erase_recipient", {"recipient_id": "pat-zq7", "confirm": "pat-zq7"}))  # fmt: skip
        gone = _error(await client.call_tool("export_recipient", {"recipient_id": "pat-zq7"}))
    assert exported["recipient"]["email"] == "zq7@example.com"
    assert "nothing erased" in unconfirmed
    assert kept["recipient"]["email"] == "zq7@example.com"
    assert erased["actor"] == "mcp"
    assert erased["counts"]["recipients"] == 1
    assert "UnknownRecipientError" in gone
