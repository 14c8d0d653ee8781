//! The providers against local servers that speak OpenAI's and Ollama's wire protocols: request shapes,
//! valid and malformed answers, retries on 429/500 and timeouts, the circuit breaker. No real network.

mod fake;
mod providers;
