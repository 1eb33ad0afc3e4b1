"""Serving a finished run over HTTP on Ray Serve: `stackray serve RUN_DIR` and `stackray.serve.app:build_app`.

The pieces, one job each:

- `config`: ServeConfig, the strict pydantic model of what a deployment is built from (run directories,
  bind address, token, replicas, batching) and the request limits, each with a default;
- `artifacts`: reads a run directory (read-only) into a `ServedRun`: the served head, the leader's
  A^-1, the scoring settings, the optional LoRA adapter, and the versioned model id;
- `engine`: one loaded model per run (transformers or vLLM): multiple-choice scoring through the project's
  scorer, and text generation with the same weights;
- `textgen`: sampling parameters and stop sequences for generation;
- `vllm_generation`: generation on a vLLM engine, streamed token by token (the vllm backend);
- `schemas`: the request models (OpenAI-compatible chat/completions, and /v1/score) with their limits;
- `http_errors`: OpenAI-style error bodies, and reading a bounded JSON body;
- `app`: the Ray Serve deployments (a FastAPI ingress and a multiplexed model deployment) and `build_app`.

Importing this package imports neither Ray nor torch.
"""
