package qdrant

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	qd "github.com/qdrant/go-client/qdrant"

	"github.com/intellistack/intellistack/modules/tutor/retrieval"
)

// Payload keys of an indexed passage.
const (
	keyID          = "passage_id"
	keyCourse      = "course"
	keyStage       = "stage"
	keyLessonTitle = "lesson_title"
	keyHeading     = "heading"
	keyText        = "text"
	keyLesson      = "lesson"
)

// pointNamespace makes point ids stable: re-indexing a lesson overwrites its
// points instead of adding copies.
var pointNamespace = uuid.MustParse("5b0c7f43-3b8e-4e0a-9d0e-6a1f2f1f7a11")

func pointID(passageID string) string {
	return uuid.NewSHA1(pointNamespace, []byte(passageID)).String()
}

// stageFilter is the access restriction, sent inside the query so that Qdrant
// never considers a locked passage (not filtered afterwards, which could leave
// the student with locked passages as "nearest" fillers or with none).
func stageFilter(q retrieval.Query) *qd.Filter {
	maxStage := float64(q.MaxStage)
	must := []*qd.Condition{qd.NewRange(keyStage, &qd.Range{Gte: qd.PtrOf(1.0), Lte: &maxStage})}
	if q.Course != "" {
		must = append(must, qd.NewMatchKeyword(keyCourse, q.Course))
	}
	return &qd.Filter{Must: must}
}

// search runs the vector query with the restriction.
func search(ctx context.Context, client *qd.Client, collection string, vector []float32, q retrieval.Query) ([]retrieval.Passage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = retrieval.DefaultLimit
	}
	if q.MaxStage < 1 {
		return nil, nil
	}
	points, err := client.Query(ctx, &qd.QueryPoints{
		CollectionName: collection,
		Query:          qd.NewQuery(vector...),
		Filter:         stageFilter(q),
		Limit:          qd.PtrOf(uint64(limit)),
		WithPayload:    qd.NewWithPayload(true),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: qdrant query: %v", retrieval.ErrUnavailable, err)
	}
	out := make([]retrieval.Passage, 0, len(points))
	for _, p := range points {
		pl := p.GetPayload()
		passage := retrieval.Passage{
			ID:          pl[keyID].GetStringValue(),
			Course:      pl[keyCourse].GetStringValue(),
			Stage:       int(pl[keyStage].GetIntegerValue()),
			LessonTitle: pl[keyLessonTitle].GetStringValue(),
			Heading:     pl[keyHeading].GetStringValue(),
			Text:        pl[keyText].GetStringValue(),
			Lesson:      pl[keyLesson].GetStringValue(),
			Score:       float64(p.GetScore()),
		}
		// Defence in depth: a misconfigured collection (stage stored as text)
		// must not leak; the filter above is the real restriction.
		if !q.Visible(passage) {
			continue
		}
		out = append(out, passage)
	}
	return out, nil
}

// indexPassages embeds and upserts passages into collection, creating it
// (cosine distance, the embedding's size) when missing. Returns how many
// points were written.
func indexPassages(ctx context.Context, client *qd.Client, emb *embedder, collection string, passages []retrieval.Passage, batch int) (int, error) {
	if batch <= 0 {
		batch = 64
	}
	written := 0
	for start := 0; start < len(passages); start += batch {
		end := min(start+batch, len(passages))
		chunk := passages[start:end]
		texts := make([]string, len(chunk))
		for i, p := range chunk {
			texts[i] = p.LessonTitle + " — " + p.Heading + "\n" + p.Text
		}
		vectors, err := emb.embed(ctx, texts)
		if err != nil {
			return written, err
		}
		if start == 0 {
			if err := ensureCollection(ctx, client, collection, len(vectors[0])); err != nil {
				return written, err
			}
		}
		points := make([]*qd.PointStruct, len(chunk))
		for i, p := range chunk {
			points[i] = &qd.PointStruct{
				Id:      qd.NewID(pointID(p.ID)),
				Vectors: qd.NewVectors(vectors[i]...),
				Payload: qd.NewValueMap(map[string]any{
					keyID: p.ID, keyCourse: p.Course, keyStage: int64(p.Stage), keyLessonTitle: p.LessonTitle,
					keyHeading: p.Heading, keyText: p.Text, keyLesson: p.Lesson,
				}),
			}
		}
		if _, err := client.Upsert(ctx, &qd.UpsertPoints{CollectionName: collection, Wait: qd.PtrOf(true), Points: points}); err != nil {
			return written, fmt.Errorf("qdrant upsert: %v", err)
		}
		written += len(points)
	}
	return written, nil
}

func ensureCollection(ctx context.Context, client *qd.Client, collection string, size int) error {
	exists, err := client.CollectionExists(ctx, collection)
	if err != nil {
		return fmt.Errorf("qdrant: %v", err)
	}
	if exists {
		return nil
	}
	err = client.CreateCollection(ctx, &qd.CreateCollection{
		CollectionName: collection,
		VectorsConfig:  qd.NewVectorsConfig(&qd.VectorParams{Size: uint64(size), Distance: qd.Distance_Cosine}),
	})
	if err != nil {
		return fmt.Errorf("qdrant: creating collection %s: %v", collection, err)
	}
	// Payload indexes keep the stage and course filter fast on big courses.
	for field, kind := range map[string]qd.FieldType{keyStage: qd.FieldType_FieldTypeInteger, keyCourse: qd.FieldType_FieldTypeKeyword} {
		if _, err := client.CreateFieldIndex(ctx, &qd.CreateFieldIndexCollection{
			CollectionName: collection, FieldName: field, FieldType: kind.Enum(), Wait: qd.PtrOf(true),
		}); err != nil {
			return fmt.Errorf("qdrant: indexing payload field %s: %v", field, err)
		}
	}
	return nil
}
