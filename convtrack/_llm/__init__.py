"""What the LLM client integrations (convtrack-openai, convtrack-anthropic) share.

`call`: one observed LLM call (decide its conversation, start and end its run);
`stream`: proxies that end a streamed call's run when the stream is done;
`raw`: calls made through `with_raw_response`/`with_streaming_response` (`reads`: what
the caller read of such a response, replayed into the run);
`remember`: remembering answered histories for automatic grouping.
"""
