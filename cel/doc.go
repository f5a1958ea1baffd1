// Package cel is the gateway's Common Expression Language: the one environment every expression
// compiles in (authorization rules, rate-limit keys, transformations, retry conditions, header values),
// the [Activation] that exposes a request and its [agentgateway.State] to an expression, and
// [RuleSet], the single meaning of allow / deny / require authorization rules.
//
// Expressions written for agentgateway carry over: the variables and their names are agentgateway's.
// Import cel-go, when you need it, under another name (this package imports it as celgo).
//
// # Variables
//
// Every expression sees the variables below. A map variable that a request does not fill is empty
// ({}), a string is "", a number 0; reading a missing key of jwt, apiKey or request.headers is an
// evaluation error (use has(jwt.sub) or "x-team" in request.headers to test for it), which
// authorization rules treat as described at [RuleSet].
//
//	request             map     the HTTP request as the policy sees it
//	request.method      string  "POST"
//	request.path        string  "/v1/chat" (normalized; no query)
//	request.host        string  "api.example.com:8443" (the Host header)
//	request.scheme      string  "https" when the gateway terminated TLS, else "http"
//	request.uri         string  "/v1/chat?stream=true" (path and query)
//	request.headers     map     request.headers["x-team"] == "red"; names are looked up in any case,
//	                            several values are joined with ","
//	request.query       map     request.query["stream"] == "true"; the first value of each parameter
//	request.body        string  json(request.body).model == "gpt-4o": the body, buffered (up to
//	                            Activation.MaxBodyBytes, else WithMaxBodyBytes, default 2 MiB) only when an expression names
//	                            it and replayed to the upstream unchanged; larger, it is an evaluation
//	                            error wrapping ErrBodyTooLarge (the authorization policy answers 413)
//
//	source              map     the client, after trusted proxies (see agentgateway.WithTrustedProxies)
//	source.address      string  "203.0.113.7" ("" when unknown)
//	source.port         int     51234
//	source.certificate  string  the client's TLS certificate (PEM) when a listener verified one, else ""
//
//	jwt                 map     the claims of the JWT a jwtAuth policy verified, nested objects
//	                            included: jwt.sub == "alice", "admin" in jwt.groups, jwt.org.id == "o1"
//	apiKey              map     the metadata of the API key an apiKey policy matched (never the key):
//	                            apiKey.tier == "gold"
//	identity            string  the authenticated subject, whichever policy established it: the JWT
//	                            "sub", the API key's name or the basic-auth user; identity == "ci-bot"
//
//	mcp                 map     the MCP call (filled by package mcp)
//	mcp.method          string  "tools/call" (mcp.methodName is the same value)
//	mcp.sessionId       string  the client-facing Mcp-Session-Id
//	mcp.target          string  the federated target the call is routed to: mcp.target == "github"
//	mcp.tool.name       string  the tool as its target names it: mcp.tool.name == "create_issue"
//	mcp.tool.target     string  the tool's target
//	mcp.prompt.name     string  the prompt of prompts/get (and of each prompt a list filters)
//	mcp.prompt.target   string
//	mcp.resource.uri    string  the resource of resources/read and (un)subscribe
//	mcp.resource.name   string
//	mcp.resource.target string
//
//	a2a                 map     the A2A JSON-RPC call (filled by package a2a)
//	a2a.method          string  as sent: "message/send" (v0.3) or "SendMessage" (v1.0)
//	a2a.taskId          string  a2a.taskId == "task-1"
//	a2a.contextId       string
//	a2a.skill           string  the skill a catalog routed by
//	a2a.version         string  "0.3" or "1.0"
//
//	llm                 map     the LLM request (filled by an LLM backend)
//	llm.provider        string  "openai"
//	llm.requestModel    string  llm.requestModel.startsWith("gpt-4")
//	llm.responseModel   string
//	llm.streaming       bool
//	llm.inputTokens     int
//	llm.outputTokens    int
//	llm.totalTokens     int     inputTokens + outputTokens
//	llm.cost            double  price of the call from the model catalog (0 when unpriced)
//
//	extauthz            map     what an extAuthz policy's service returned: the gRPC CheckResponse's
//	                            dynamic_metadata, or the values of protocol.http.metadata; extauthz.user
//
// A policy may add variables of its own with [CompileWith] and [Activation.Extra] (the retry
// condition's `response`, say); Extra also overrides a variable, which is how package mcp evaluates one
// tool of a list at a time.
//
// Besides CEL's standard functions the environment has cel-go's string, encoder (base64), list, set
// and math extensions: request.path.split("/"), base64.decode(...), sets.contains(jwt.groups, ["a"]),
// optional values (jwt.?role.orValue("user")), and the functions agentgateway documents:
//
//	function                 example                                                  result
//	default(x, fallback)     default(request.headers["x-user-id"], "anonymous")        x, or fallback when a field or key of x is absent
//	x.with(v, expr)          json(s).with(b, b.type == "sum" ? b.v1 + b.v2 : b.v3)     expr with v bound to x, evaluated once
//	json(string|bytes)       json(s).user.id                                          the parsed JSON value
//	toJson(v), to_json(v)    toJson(jwt)                                              v as a JSON string
//	random()                 random() < 0.1                                           a double in [0, 1), new each evaluation
//	uuid()                   uuid()                                                   a random (version 4) UUID string
//	ip(string)               ip(source.address).family() == 4                         an IP address (IPv4-mapped IPv6 unmapped)
//	cidr(string)             cidr("10.0.0.0/8").containsIP(source.address)            a network; containsIP takes an ip or a string
//	isIP, isCIDR             isIP(request.headers["x-real-ip"])                       whether a string parses
//	ip.isLoopback()          ip("127.0.0.1").isLoopback()                             true
//	cidr.prefixLength()      cidr("10.1.0.0/16").prefixLength()                       16
//	string(ip|cidr)          string(ip("::ffff:1.2.3.4"))                             "1.2.3.4"
//	form(string|bytes)       form(request.body).grant_type == "client_credentials"    a url-encoded form: each key's first value
//	unvalidatedJwtPayload(s) unvalidatedJwtPayload(tok).exp                            a JWT's claims, its signature NOT verified
//	base64.encode(string)    base64.encode("user:pass")                               also takes a string (cel-go's takes bytes)
//	form.encode(map)         form.encode({"grant_type": "x", "scope": ["a", "b"]})    a url-encoded form, keys sorted, lists repeated
//	url.encode, url.decode   url.encode(source.certificate)                           query (percent) encoding and its inverse
//	m.merge(o)               mcp.params.merge({"arguments": {}})                      m with o's entries added; o wins for a key in both
//	s.regexReplace(re, r)    s.regexReplace("key=(\\w+)", "k:$1")                      s with the first match of re replaced ($1 names a group)
//	s.regexReplaceAll(re, r) s.regexReplaceAll("[0-9]", "#")                          s with every match of re replaced
//
// A function this environment does not know is a compile error, which a configuration reports with the
// expression's field path. Whether an expression reads the body is known when it is compiled
// (Program.Uses(RequestBody)); one that does not costs nothing more (BenchmarkRuleWithoutBody).
//
// # Cost and speed
//
// Programs are compiled when a configuration is built, are safe for concurrent use and are cached by
// expression, so a reload that keeps its rules does not compile them again. Evaluation builds
// nothing up front: request, header and protocol variables are views that read the request and its
// State only for the keys an expression looks up, so one rule costs a few hundred nanoseconds. Every
// program is bounded by [DefaultCostLimit]; when the static estimate (strings and collections bounded by
// [MaxInputSize]) proves the bound, runtime cost tracking, which would double evaluation time, is left
// off.
package cel
