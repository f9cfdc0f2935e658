"""The LangChain apps: ChatOpenAI used directly, and a LangGraph graph (model and tool nodes)."""

from __future__ import annotations

from typing import Annotated, Any

from frameworks_support import TURNS, USERS, prompt
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict

from convtrack.fake_llm import FakeLLMServer


@tool
def lookup(query: str) -> str:
    """Look the query up."""
    return f"found {query}"


def chat_model(server: FakeLLMServer) -> ChatOpenAI:
    """A real ChatOpenAI on the fake server (usage reported when streaming too)."""
    return ChatOpenAI(
        model="gpt-test",
        base_url=server.openai_base_url,
        api_key="test",  # type: ignore[arg-type]
        max_retries=0,
        stream_usage=True,
    )


def thread(user: str, ids: bool) -> RunnableConfig | None:
    """The app's config for a user's call: its thread id, when the app names one."""
    return {"configurable": {"thread_id": f"{user}-chat"}} if ids else None


async def chatopenai_app(server: FakeLLMServer, ids: bool) -> dict[str, list[Any]]:
    """ChatOpenAI directly: a plain turn, a tool turn (call, tool, answer), a streamed turn."""
    model = chat_model(server)
    with_tools = model.bind_tools([lookup])
    histories: dict[str, list[BaseMessage]] = {user: [] for user in USERS}
    results: dict[str, list[Any]] = {user: [] for user in USERS}
    for turn, kind in enumerate(TURNS):
        for user in USERS:
            history, config = histories[user], thread(user, ids)
            history.append(HumanMessage(prompt(user, turn)))
            if kind == "tool":
                call = await with_tools.ainvoke(history, config)
                assert isinstance(call, AIMessage)
                history.append(call)
                history.append(await lookup.ainvoke(call.tool_calls[0], config))
                answer = await model.ainvoke(history, config)
            elif kind == "stream":
                chunks = [chunk async for chunk in model.astream(history, config)]
                answer = AIMessage("".join(str(chunk.content) for chunk in chunks))
            else:
                answer = await model.ainvoke(history, config)
            history.append(AIMessage(str(answer.content)))
            results[user].append(str(answer.content))
    return results


class State(TypedDict):
    """The graph's state: the messages, and whether this turn offers the tool."""

    messages: Annotated[list[AnyMessage], add_messages]
    use_tools: bool


def graph(server: FakeLLMServer, ids: bool) -> Any:
    """A model node and a tool node; checkpointed per thread when the app names threads."""
    model = chat_model(server)
    with_tools = model.bind_tools([lookup])

    async def call_model(state: State) -> dict[str, Any]:
        chosen = with_tools if state["use_tools"] else model
        return {"messages": [await chosen.ainvoke(state["messages"])]}

    def route(state: State) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    builder = StateGraph(State)
    builder.add_node("model", call_model)
    builder.add_node("tools", ToolNode([lookup]))
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", route, ["tools", END])
    builder.add_edge("tools", "model")
    return builder.compile(checkpointer=InMemorySaver() if ids else None)


async def langgraph_app(server: FakeLLMServer, ids: bool) -> dict[str, list[Any]]:
    """The graph's turns: with threads, each turn sends its new message; else the history."""
    app = graph(server, ids)
    histories: dict[str, list[AnyMessage]] = {user: [] for user in USERS}
    results: dict[str, list[Any]] = {user: [] for user in USERS}
    for turn, kind in enumerate(TURNS):
        for user in USERS:
            new = HumanMessage(prompt(user, turn))
            sent = [new] if ids else [*histories[user], new]
            state = {"messages": sent, "use_tools": kind == "tool"}
            if kind == "stream":
                text, final = "", None
                async for mode, data in app.astream(
                    state, thread(user, ids), stream_mode=["messages", "values"]
                ):
                    if mode == "messages":
                        text += str(data[0].content)
                    else:
                        final = data
                assert final is not None
                assert text == final["messages"][-1].content
            else:
                final = await app.ainvoke(state, thread(user, ids))
            histories[user] = list(final["messages"])
            results[user].append(str(final["messages"][-1].content))
    return results
