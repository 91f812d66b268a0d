// Package fakeqdrant is a test double of Qdrant's gRPC API: the Points and
// Collections services of the real go-client's generated server interfaces,
// with in-memory points, cosine search and the filter conditions the tutor
// uses (range and keyword match) evaluated inside the query as Qdrant does.
// Test code only.
package fakeqdrant

import (
	"context"
	"math"
	"net"
	"sort"
	"sync"
	"time"

	qd "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server is a running fake on a loopback port.
type Server struct {
	Addr string
	grpc *grpc.Server

	mu          sync.Mutex
	collections map[string]map[string]*qd.PointStruct // collection → point uuid → point
	queries     []*qd.QueryPoints
	fieldIndex  map[string][]string
	down        bool
}

// Start serves on 127.0.0.1 until Stop.
func Start() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: l.Addr().String(),
		collections: map[string]map[string]*qd.PointStruct{}, fieldIndex: map[string][]string{}}
	s.serve(l)
	return s, nil
}

func (s *Server) serve(l net.Listener) {
	g := grpc.NewServer()
	qd.RegisterPointsServer(g, pointsService{s: s})
	qd.RegisterCollectionsServer(g, collectionsService{s: s})
	s.mu.Lock()
	s.grpc = g
	s.mu.Unlock()
	go func() { _ = g.Serve(l) }()
}

// Stop shuts the server down: its connections are closed and new ones
// refused, as when Qdrant's process is gone.
func (s *Server) Stop() {
	s.mu.Lock()
	g := s.grpc
	s.mu.Unlock()
	g.Stop()
}

// Restart serves again on the same address after Stop, with the points
// kept: Qdrant back after an outage.
func (s *Server) Restart() error {
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may take a moment to be free again
		if l, err = net.Listen("tcp", s.Addr); err == nil {
			s.serve(l)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// SetDown makes every call fail with Unavailable, like a Qdrant outage.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Queries returns the query requests received.
func (s *Server) Queries() []*qd.QueryPoints {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*qd.QueryPoints(nil), s.queries...)
}

// Points returns how many points a collection holds.
func (s *Server) Points(collection string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.collections[collection])
}

// FieldIndexes lists the payload fields indexed in a collection.
func (s *Server) FieldIndexes(collection string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.fieldIndex[collection]...)
}

// The two gRPC services share the server's state; they are separate types
// because both generated interfaces have a Delete method.
type pointsService struct {
	qd.UnimplementedPointsServer
	s *Server
}

type collectionsService struct {
	qd.UnimplementedCollectionsServer
	s *Server
}

func (p pointsService) CreateFieldIndex(ctx context.Context, req *qd.CreateFieldIndexCollection) (*qd.PointsOperationResponse, error) {
	return p.s.CreateFieldIndex(ctx, req)
}
func (p pointsService) Upsert(ctx context.Context, req *qd.UpsertPoints) (*qd.PointsOperationResponse, error) {
	return p.s.Upsert(ctx, req)
}
func (p pointsService) Query(ctx context.Context, req *qd.QueryPoints) (*qd.QueryResponse, error) {
	return p.s.Query(ctx, req)
}
func (c collectionsService) CollectionExists(ctx context.Context, req *qd.CollectionExistsRequest) (*qd.CollectionExistsResponse, error) {
	return c.s.CollectionExists(ctx, req)
}
func (c collectionsService) Create(ctx context.Context, req *qd.CreateCollection) (*qd.CollectionOperationResponse, error) {
	return c.s.Create(ctx, req)
}

func (s *Server) check() error {
	if s.down {
		return status.Error(codes.Unavailable, "qdrant is down")
	}
	return nil
}

// CollectionExists implements the Collections service.
func (s *Server) CollectionExists(_ context.Context, req *qd.CollectionExistsRequest) (*qd.CollectionExistsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	_, ok := s.collections[req.GetCollectionName()]
	return &qd.CollectionExistsResponse{Result: &qd.CollectionExists{Exists: ok}}, nil
}

// Create implements the Collections service.
func (s *Server) Create(_ context.Context, req *qd.CreateCollection) (*qd.CollectionOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	if _, ok := s.collections[req.GetCollectionName()]; ok {
		return nil, status.Error(codes.AlreadyExists, "collection exists")
	}
	s.collections[req.GetCollectionName()] = map[string]*qd.PointStruct{}
	return &qd.CollectionOperationResponse{Result: true}, nil
}

// CreateFieldIndex implements the Points service.
func (s *Server) CreateFieldIndex(_ context.Context, req *qd.CreateFieldIndexCollection) (*qd.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	s.fieldIndex[req.GetCollectionName()] = append(s.fieldIndex[req.GetCollectionName()], req.GetFieldName())
	return &qd.PointsOperationResponse{Result: &qd.UpdateResult{Status: qd.UpdateStatus_Completed}}, nil
}

// Upsert implements the Points service.
func (s *Server) Upsert(_ context.Context, req *qd.UpsertPoints) (*qd.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	coll, ok := s.collections[req.GetCollectionName()]
	if !ok {
		return nil, status.Error(codes.NotFound, "collection not found")
	}
	for _, p := range req.GetPoints() {
		coll[p.GetId().GetUuid()] = p
	}
	return &qd.PointsOperationResponse{Result: &qd.UpdateResult{Status: qd.UpdateStatus_Completed}}, nil
}

// Query implements the Points service: nearest by cosine, filtered first.
func (s *Server) Query(_ context.Context, req *qd.QueryPoints) (*qd.QueryResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	s.queries = append(s.queries, req)
	coll, ok := s.collections[req.GetCollectionName()]
	if !ok {
		return nil, status.Error(codes.NotFound, "collection not found")
	}
	vec := req.GetQuery().GetNearest().GetDense().GetData()
	if len(vec) == 0 {
		return nil, status.Error(codes.InvalidArgument, "only dense nearest queries are supported by the fake")
	}
	var out []*qd.ScoredPoint
	for _, p := range coll {
		if !matches(req.GetFilter(), p.GetPayload()) {
			continue
		}
		out = append(out, &qd.ScoredPoint{Id: p.GetId(), Payload: p.GetPayload(),
			Score: cosine(vec, p.GetVectors().GetVector().GetDense().GetData())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if limit := int(req.GetLimit()); limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return &qd.QueryResponse{Result: out}, nil
}

func matches(f *qd.Filter, payload map[string]*qd.Value) bool {
	if f == nil {
		return true
	}
	for _, c := range f.GetMust() {
		if !condition(c, payload) {
			return false
		}
	}
	for _, c := range f.GetMustNot() {
		if condition(c, payload) {
			return false
		}
	}
	if should := f.GetShould(); len(should) > 0 {
		for _, c := range should {
			if condition(c, payload) {
				return true
			}
		}
		return false
	}
	return true
}

func condition(c *qd.Condition, payload map[string]*qd.Value) bool {
	if sub := c.GetFilter(); sub != nil {
		return matches(sub, payload)
	}
	fc := c.GetField()
	if fc == nil {
		return false
	}
	v, ok := payload[fc.GetKey()]
	if !ok {
		return false
	}
	if r := fc.GetRange(); r != nil {
		var x float64
		switch k := v.GetKind().(type) {
		case *qd.Value_IntegerValue:
			x = float64(k.IntegerValue)
		case *qd.Value_DoubleValue:
			x = k.DoubleValue
		default:
			return false // Qdrant's range never matches text
		}
		return (r.Lt == nil || x < *r.Lt) && (r.Lte == nil || x <= *r.Lte) &&
			(r.Gt == nil || x > *r.Gt) && (r.Gte == nil || x >= *r.Gte)
	}
	if m := fc.GetMatch(); m != nil {
		if kw, ok := m.GetMatchValue().(*qd.Match_Keyword); ok {
			return v.GetStringValue() == kw.Keyword
		}
		if in, ok := m.GetMatchValue().(*qd.Match_Integer); ok {
			return v.GetIntegerValue() == in.Integer
		}
	}
	return false
}

func cosine(a, b []float32) float32 {
	if len(a) != len(b) {
		return -1
	}
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return float32(dot / math.Sqrt(na*nb))
}
