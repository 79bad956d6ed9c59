// Package headers names the headers of the trades-2s records: the aggregator
// writes them, and the sink, cmd/verify and the tests read them by these
// names, so that each is spelled in one place.
package headers

// The window headers of the contract, on every trades-2s record: epoch
// milliseconds and the trade count, decimal ASCII.
const (
	WindowStart = "window-start"
	WindowEnd   = "window-end"
	TradeCount  = "trade-count"
)

// The interval aggregates' headers (the contract's additions), present when
// the aggregator's input.price_field and input.volume_field are set: decimal
// text over the window's valid, non-late trades of the ISIN.
const (
	WindowOpen   = "window-open"
	WindowHigh   = "window-high"
	WindowLow    = "window-low"
	WindowVolume = "window-volume"
	WindowVWAP   = "window-vwap"
)
