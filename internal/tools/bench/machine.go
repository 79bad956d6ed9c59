package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes the host the benchmark ran on.
type Machine struct {
	CPUs     int
	CPUModel string
	RAMBytes int64
	Kernel   string
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (nproc), %s, %.1f GiB RAM, Linux %s, %s", m.CPUs, orDash(m.CPUModel),
		float64(m.RAMBytes)/(1<<30), orDash(m.Kernel), runtime.Version())
}

// DescribeMachine reads /proc for the CPU model, RAM and kernel.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := statusField(string(b), "MemTotal"); err == nil {
			m.RAMBytes = kb
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo text.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// megabytes formats bytes in MB (10^6 bytes), the unit of the memory target.
func megabytes(bytes int64) string {
	return strconv.FormatFloat(float64(bytes)/1e6, 'f', 1, 64) + " MB"
}
