package tradegen

import (
	"math"
	"math/rand/v2"
	"time"
)

// DefaultRate is the average rate of the continuous trading session, in trades per second,
// of the schedule when Options.Rate is not positive (flat out): the records
// then come as fast as the producer takes them, but their schedule, and the
// timestamps derived from it with Options.Start, still look like a market.
const DefaultRate = 800

// Shape of the arrival process. Arrival events (a market order hitting the
// book) form a Poisson process whose intensity is modulated per slot by a
// mean-one log-normal AR(1) factor (bursts lasting about a second) and, after
// the opening auction, by a decaying boost. The burst factors of each 5 s
// block are rescaled to average exactly one, so the rate holds over any few
// seconds while the seconds within them differ by a factor of two or more.
// Each event fills one to five trades at the same instant (a sweep through
// several price levels).
const (
	slotLength     = 100 * time.Millisecond
	blockSlots     = 50  // burst factors are normalised to mean one over each 5 s block
	burstSigma     = 0.5 // standard deviation of the log intensity factor
	burstAR        = 0.9 // slot-to-slot correlation of the log factor
	sweepChance    = 0.2 // share of events that fill more than one trade
	sweepMinTrades = 2
	sweepMaxTrades = 5
	// meanTradesPerEvent = (1-sweepChance) + sweepChance*(min+max)/2.
	meanTradesPerEvent = 1 - sweepChance + sweepChance*(sweepMinTrades+sweepMaxTrades)/2.0

	// The continuous trading session opens with its intensity multiplied by
	// 1 + openingBoost*exp(-t/openingDecay): openingBoost*openingDecay seconds'
	// worth of extra trades, about 4,000 at the default rate, on top of the
	// opening auction prints.
	openingBoost = 5.0
	openingDecay = 1.0 // seconds
	// maxAuctionPrints caps the opening auction's prints (one per instrument,
	// most popular first) so a huge benchmark universe does not open with 100k.
	maxAuctionPrints = 2_000
)

// schedule yields the arrival times of events, in seconds since the open.
type schedule struct {
	rng         *rand.Rand
	eventRate   float64 // mean arrival events per second
	opening     bool
	slot        int                 // index of the current slot
	slotEnd     float64             // end of the current slot, seconds
	intensity   float64             // events per second in the current slot
	logFactor   float64             // AR(1) state of the burst factor
	block       [blockSlots]float64 // burst factors of the current block
	now         float64             // time of the last event
	pendingNext float64             // time of the next event, drawn ahead for peeking
}

func newSchedule(rng *rand.Rand, rate float64, opening bool) *schedule {
	s := &schedule{rng: rng, eventRate: rate / meanTradesPerEvent, opening: opening}
	s.logFactor = burstSigma * rng.NormFloat64() // start in the stationary distribution
	s.slot = -1
	s.nextSlot()
	s.pendingNext = s.draw()
	return s
}

// peek returns the time of the next event without consuming it.
func (s *schedule) peek() float64 { return s.pendingNext }

// next consumes and returns the time of the next event.
func (s *schedule) next() float64 {
	t := s.pendingNext
	s.pendingNext = s.draw()
	return t
}

// draw advances the inhomogeneous Poisson process by one event: an Exp(1)
// amount of integrated intensity, spent across as many slots as it takes.
func (s *schedule) draw() float64 {
	need := s.rng.ExpFloat64()
	for {
		available := (s.slotEnd - s.now) * s.intensity
		if need <= available {
			s.now += need / s.intensity
			return s.now
		}
		need -= available
		s.now = s.slotEnd
		s.nextSlot()
	}
}

func (s *schedule) nextSlot() {
	s.slot++
	if s.slot%blockSlots == 0 {
		s.drawBlock()
	}
	start := float64(s.slot) * slotLength.Seconds()
	s.slotEnd = start + slotLength.Seconds()
	factor := s.block[s.slot%blockSlots]
	if s.opening {
		mid := start + slotLength.Seconds()/2
		factor *= 1 + openingBoost*math.Exp(-mid/openingDecay)
	}
	s.intensity = s.eventRate * factor
}

// drawBlock draws the burst factors of the next block: a log-normal AR(1)
// series, rescaled to mean one.
func (s *schedule) drawBlock() {
	sum := 0.0
	for i := range s.block {
		s.logFactor = burstAR*s.logFactor + math.Sqrt(1-burstAR*burstAR)*burstSigma*s.rng.NormFloat64()
		s.block[i] = math.Exp(s.logFactor)
		sum += s.block[i]
	}
	for i := range s.block {
		s.block[i] *= blockSlots / sum
	}
}

func seconds(t float64) time.Duration { return time.Duration(t * float64(time.Second)) }
