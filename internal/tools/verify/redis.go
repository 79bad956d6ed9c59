package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrRedis is wrapped by errors reaching or reading Redis.
var ErrRedis = errors.New("redis")

// readSnapshot reads the sink's snapshot hash and its companion with HSCAN,
// so that a large hash never blocks the server.
func readSnapshot(ctx context.Context, rc RedisConfig, timeout time.Duration) (map[string]SnapshotEntry, error) {
	var addrs []string
	for _, a := range strings.Split(rc.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: addrs, Username: rc.Username, Password: rc.Password,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: 2,
	})
	defer client.Close()
	entries := map[string]SnapshotEntry{}
	err := hscan(ctx, client, rc.SnapshotKey, func(field, value string) {
		e := entries[field]
		e.Value = []byte(value)
		entries[field] = e
	})
	if err == nil {
		err = hscan(ctx, client, rc.SnapshotKey+WindowEndSuffix, func(field, value string) {
			e := entries[field]
			e.WindowEnd = []byte(value)
			entries[field] = e
		})
	}
	if err != nil {
		return nil, fmt.Errorf("verify: %w: reading the snapshot %s: %v", ErrRedis, rc.SnapshotKey, err)
	}
	return entries, nil
}

func hscan(ctx context.Context, client redis.UniversalClient, key string, fn func(field, value string)) error {
	var cursor uint64
	for {
		kv, next, err := client.HScan(ctx, key, cursor, "", 1000).Result()
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(kv); i += 2 {
			fn(kv[i], kv[i+1])
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
