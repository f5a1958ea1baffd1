package llm

import (
	"github.com/agentgw/agentgateway/internal/jsonscan"
)

// gmScratch is what the Gemini stream decoder reuses from chunk to chunk, so that a text chunk read
// with the scanner allocates only its text.
type gmScratch struct {
	resp     gmResponse
	content  gmContent
	usage    gmUsage
	feedback struct {
		BlockReason string `json:"blockReason"`
	}
	model, id string // the last modelVersion and responseId, reused while they repeat
}

// scanGeminiChunk reads a streamed GenerateContentResponse into s.resp as json.Unmarshal would
// into a zero gmResponse, for the chunks nearly every stream is made of: at most one candidate
// whose parts are text (or thought) parts. ok is false for anything else (an error object, a
// function call, inline data, several candidates, a type error, a duplicate key), which the
// caller decodes with encoding/json.
func scanGeminiChunk(data []byte, s *gmScratch) (*gmResponse, bool) {
	top, err := jsonscan.Scan(data, nil)
	if err != nil || !jsonscan.IsObject(data, top) {
		return nil, false
	}
	d := scanDec{b: data}
	r := &s.resp
	*r = gmResponse{Candidates: r.Candidates[:0]}
	var candidates jsonscan.Span
	for k, v := range jsonscan.Members(data, top) {
		switch {
		case k.Matches("candidates"):
			candidates = v
		case k.Matches("error"):
			return nil, false
		case k.Matches("modelVersion"):
			r.ModelVersion = d.strReuse(v, &s.model)
		case k.Matches("responseId"):
			r.ResponseID = d.strReuse(v, &s.id)
		case k.Matches("usageMetadata"):
			if d.object(v) {
				u := &s.usage
				*u = gmUsage{}
				for k, v := range jsonscan.Members(data, v) {
					switch {
					case k.Matches("promptTokenCount"):
						u.PromptTokenCount = d.int64(v)
					case k.Matches("candidatesTokenCount"):
						u.CandidatesTokenCount = d.int64(v)
					case k.Matches("cachedContentTokenCount"):
						u.CachedContentTokenCount = d.int64(v)
					case k.Matches("thoughtsTokenCount"):
						u.ThoughtsTokenCount = d.int64(v)
					case k.Matches("toolUsePromptTokenCount"):
						u.ToolUsePromptTokenCount = d.int64(v)
					case k.Matches("totalTokenCount"):
						u.TotalTokenCount = d.int64(v)
					}
				}
				r.UsageMetadata = u
			}
		case k.Matches("promptFeedback"):
			if d.object(v) {
				f := &s.feedback
				f.BlockReason = ""
				for k, v := range jsonscan.Members(data, v) {
					if k.Matches("blockReason") {
						f.BlockReason = d.str(v)
					}
				}
				r.PromptFeedback = f
			}
		}
		if d.bad {
			return nil, false
		}
	}
	if !candidates.Found() || d.null(candidates) {
		return r, true
	}
	if candidates.In(data)[0] != '[' || d.count(candidates) > 1 {
		return nil, false
	}
	d.array(candidates, func(_ int, e jsonscan.Span) {
		if !d.object(e) {
			d.bad = true
			return
		}
		r.Candidates = append(r.Candidates, struct {
			Content      *gmContent `json:"content"`
			FinishReason string     `json:"finishReason"`
			Index        int        `json:"index"`
		}{})
		c := &r.Candidates[len(r.Candidates)-1]
		for k, v := range jsonscan.Members(data, e) {
			switch {
			case k.Matches("content"):
				if d.object(v) {
					c.Content = d.gmContent(v, &s.content)
				}
			case k.Matches("finishReason"):
				c.FinishReason = d.str(v)
			case k.Matches("index"):
				c.Index, _ = d.integer(v)
			}
		}
	})
	if d.bad {
		return nil, false
	}
	return r, true
}

// gmContent reads a candidate's content of text parts into c.
func (d *scanDec) gmContent(v jsonscan.Span, c *gmContent) *gmContent {
	c.Role, c.Parts = "", c.Parts[:0]
	var parts jsonscan.Span
	for k, v := range jsonscan.Members(d.b, v) {
		switch {
		case k.Matches("role"):
			if raw, ok := jsonscan.RawString(d.b, v); ok && string(raw) == "model" {
				c.Role = "model" // the role of every answer: not allocated
			} else {
				c.Role = d.str(v)
			}
		case k.Matches("parts"):
			parts = v
		}
	}
	if !parts.Found() || d.null(parts) {
		c.Parts = nil
		return c
	}
	d.array(parts, func(_ int, e jsonscan.Span) {
		if !d.object(e) {
			d.bad = true
			return
		}
		var p gmPart
		for k, v := range jsonscan.Members(d.b, e) {
			switch {
			case k.Matches("text"):
				p.Text = d.str(v)
			case k.Matches("thought"):
				p.Thought, _ = d.boolean(v)
			case k.Matches("thoughtSignature"):
				p.ThoughtSignature = d.str(v)
			case k.Matches("inlineData"), k.Matches("fileData"), k.Matches("functionCall"), k.Matches("functionResponse"):
				if !d.null(v) {
					d.bad = true // not a text part: encoding/json reads it
				}
			}
		}
		c.Parts = append(c.Parts, p)
	})
	if c.Parts == nil {
		c.Parts = []gmPart{} // "parts": [] is an empty slice to encoding/json
	}
	return c
}

// strReuse reads a string, returning *last instead of a new copy when the bytes are the same.
func (d *scanDec) strReuse(v jsonscan.Span, last *string) string {
	if raw, ok := jsonscan.RawString(d.b, v); ok {
		if string(raw) != *last {
			*last = string(raw)
		}
		return *last
	}
	return d.str(v)
}
