//! The fast reading of an answer: straight from the bytes into the model, with no JSON tree in
//! between (a tree cost most of the time [`super::parse_response`] took, in allocations).
//!
//! It applies the rules of [`super::lenient`] as the bytes stream past: leaves through the same
//! leaf functions, arrays cut at the same caps, and for a key given twice the last one wins, as
//! it does in a tree. Whatever it would have to classify it declines instead (`None`): a body
//! that is not JSON, a container of the wrong type, a duplicated container whose earlier copy
//! was wrong. [`super::parse_response`] then reads the body through the tree, so every error,
//! and every answer the fast reading does not give, comes from the one reader that defines them.
//! Unknown members are skipped but still fully checked (strings as UTF-8 without lone
//! surrogates), so a body the tree refuses is never accepted here. The unit tests compare the
//! two readings on generated bodies.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::lenient;
use super::{
    Candidate, Formatted, IdCard, IdCardResult, ImageResult, InferResult, MAX_CANDIDATES,
    MAX_IMAGES, MAX_POLYS, MAX_VERTICES, Meta, OTHER_SECTIONS, OcrResponse, PassportFields, Poly,
    ValidationResult, Vertex,
};

/// The answer in `body`, or `None` where the tree reader has to decide.
pub(super) fn response(body: &[u8]) -> Option<OcrResponse> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let r = de
        .deserialize_any(Struct(PhantomData::<OcrResponse>))
        .ok()?;
    de.end().ok()?;
    Some(r)
}

/// A type read from a JSON object: its member names and how each one is taken in.
trait FromObject: Default {
    const KEYS: &'static [&'static str];
    /// Read the value of member `KEYS[key]` from `map` into `self`.
    fn member<'de, A: MapAccess<'de>>(&mut self, key: usize, map: &mut A) -> Result<(), A::Error>;
    /// Work left after the last member (lists built from several members).
    fn finish(self) -> Self {
        self
    }
}

/// The `visit_*` methods of every scalar and of `null`, each answering `$none`; the visitor
/// writes its own `visit_seq` and `visit_map`.
macro_rules! otherwise {
    ($none:expr) => {
        fn visit_bool<Er: de::Error>(self, _: bool) -> Result<Self::Value, Er> {
            Ok($none)
        }
        fn visit_i64<Er: de::Error>(self, _: i64) -> Result<Self::Value, Er> {
            Ok($none)
        }
        fn visit_u64<Er: de::Error>(self, _: u64) -> Result<Self::Value, Er> {
            Ok($none)
        }
        fn visit_f64<Er: de::Error>(self, _: f64) -> Result<Self::Value, Er> {
            Ok($none)
        }
        fn visit_str<Er: de::Error>(self, _: &str) -> Result<Self::Value, Er> {
            Ok($none)
        }
        fn visit_unit<Er: de::Error>(self) -> Result<Self::Value, Er> {
            Ok($none)
        }
    };
}

/// Reads any JSON value and keeps nothing, with every string still checked.
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    otherwise!(Skip);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

/// A leaf as the tree would hold it: scalars as they are, containers (skipped) as `Null`,
/// which every leaf function reads as absent, as it reads a container.
struct Leaf(Value);

impl<'de> de::Deserialize<'de> for Leaf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LeafVisitor)
    }
}

struct LeafVisitor;

impl<'de> Visitor<'de> for LeafVisitor {
    type Value = Leaf;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Leaf, E> {
        Ok(Leaf(Value::Bool(b)))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Leaf, E> {
        Ok(Leaf(Value::Number(n.into())))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Leaf, E> {
        Ok(Leaf(Value::Number(n.into())))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Leaf, E> {
        Ok(Leaf(Number::from_f64(n).map_or(Value::Null, Value::Number)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Leaf, E> {
        Ok(Leaf(Value::String(s.to_owned())))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Leaf, E> {
        Ok(Leaf(Value::String(s)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Leaf, E> {
        Ok(Leaf(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Leaf, A::Error> {
        SkipVisitor.visit_seq(seq).map(|_| Leaf(Value::Null))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Leaf, A::Error> {
        SkipVisitor.visit_map(map).map(|_| Leaf(Value::Null))
    }
}

impl Leaf {
    /// [`lenient::string`], moving a string instead of copying it.
    fn string(self) -> Option<String> {
        match self.0 {
            Value::String(s) => Some(s),
            other => lenient::string(Some(&other)),
        }
    }
    fn float(self) -> Option<f64> {
        lenient::float(Some(&self.0))
    }
    fn int(self) -> Option<i64> {
        lenient::int(Some(&self.0))
    }
    fn boolean(self) -> Option<bool> {
        lenient::boolean(Some(&self.0))
    }
}

fn leaf<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Leaf, A::Error> {
    map.next_value::<Leaf>()
}

/// A member name, as its index in a `KEYS` list (`None`: not one of them).
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == s))
    }
}

/// An object read into `T`; anything else is an error (a container the tree reader types).
struct Struct<T>(PhantomData<T>);

impl<'de, T: FromObject> Visitor<'de> for Struct<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        while let Some(key) = map.next_key_seed(Key(T::KEYS))? {
            match key {
                Some(i) => out.member(i, &mut map)?,
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(out.finish())
    }
}

/// A structural member: `null` is absent, an object is read, anything else is an error.
struct Member<T>(Option<T>);

impl<'de, T: FromObject> de::Deserialize<'de> for Member<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(MemberVisitor(PhantomData))
    }
}

struct MemberVisitor<T>(PhantomData<T>);

impl<'de, T: FromObject> Visitor<'de> for MemberVisitor<T> {
    type Value = Member<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Member<T>, E> {
        Ok(Member(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Member<T>, D::Error> {
        d.deserialize_any(Struct(PhantomData))
            .map(|t| Member(Some(t)))
    }
}

/// A lenient member: an object is read, anything else is absent.
struct Lax<T>(Option<T>);

impl<'de, T: FromObject> de::Deserialize<'de> for Lax<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LaxVisitor(PhantomData))
    }
}

struct LaxVisitor<T>(PhantomData<T>);

impl<'de, T: FromObject> Visitor<'de> for LaxVisitor<T> {
    type Value = Lax<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    otherwise!(Lax(None));
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Lax<T>, A::Error> {
        SkipVisitor.visit_seq(seq).map(|_| Lax(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lax<T>, A::Error> {
        Struct(PhantomData).visit_map(map).map(|t| Lax(Some(t)))
    }
}

/// An array whose first `cap` elements are read as `E` (kept when `Some`) and the rest
/// skipped; `cut` tells whether there were more. Anything but an array reads as `Lone`.
struct Capped<E> {
    items: Vec<E>,
    cut: bool,
}

/// How one element of a [`Capped`] list is read, and what a non-array value means.
trait Element: Sized {
    const CAP: usize;
    /// The element read from one array entry (`None`: dropped).
    fn read<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error>;
    /// The list a value that is not an array stands for.
    fn lone<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Self>, D::Error>;
}

impl<'de, E: Element> de::Deserialize<'de> for Capped<E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CappedVisitor(PhantomData))
    }
}

struct CappedVisitor<E>(PhantomData<E>);

impl<'de, E: Element> Visitor<'de> for CappedVisitor<E> {
    type Value = Capped<E>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Capped<E>, A::Error> {
        let mut items = Vec::new();
        let mut seen = 0;
        loop {
            if seen < E::CAP {
                match E::read(&mut seq)? {
                    Some(item) => items.extend(item),
                    None => break,
                }
            } else if seq.next_element::<Skip>()?.is_none() {
                break;
            }
            seen += 1;
        }
        Ok(Capped {
            items,
            cut: seen > E::CAP,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Capped<E>, A::Error> {
        lone(E::lone(de::value::MapAccessDeserializer::new(map)))
    }
    fn visit_str<Er: de::Error>(self, s: &str) -> Result<Capped<E>, Er> {
        lone(E::lone(de::value::StrDeserializer::new(s)))
    }
    fn visit_i64<Er: de::Error>(self, n: i64) -> Result<Capped<E>, Er> {
        lone(E::lone(de::value::I64Deserializer::new(n)))
    }
    fn visit_u64<Er: de::Error>(self, n: u64) -> Result<Capped<E>, Er> {
        lone(E::lone(de::value::U64Deserializer::new(n)))
    }
    fn visit_f64<Er: de::Error>(self, n: f64) -> Result<Capped<E>, Er> {
        lone(E::lone(de::value::F64Deserializer::new(n)))
    }
    fn visit_bool<Er: de::Error>(self, _: bool) -> Result<Capped<E>, Er> {
        Ok(Capped::empty())
    }
    fn visit_unit<Er: de::Error>(self) -> Result<Capped<E>, Er> {
        Ok(Capped::empty())
    }
}

impl<E> Capped<E> {
    fn empty() -> Self {
        Capped {
            items: Vec::new(),
            cut: false,
        }
    }
}

fn lone<E, Er>(items: Result<Vec<E>, Er>) -> Result<Capped<E>, Er> {
    items.map(|items| Capped { items, cut: false })
}

impl Element for Candidate {
    const CAP: usize = MAX_CANDIDATES;
    fn read<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error> {
        Ok(seq.next_element::<ObjectOrText<Candidate>>()?.map(|c| c.0))
    }
    fn lone<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Self>, D::Error> {
        let one = <ObjectOrText<Candidate> as de::Deserialize>::deserialize(d)?;
        Ok(one.0.into_iter().collect())
    }
}

/// A type that a lone string or number stands for: a candidate's `text`, a `formatted`'s
/// `value`.
trait FromText: FromObject {
    fn from_text(text: Option<String>) -> Self;
}

impl FromText for Candidate {
    fn from_text(text: Option<String>) -> Self {
        Candidate {
            text,
            ..Candidate::default()
        }
    }
}

impl FromText for Formatted {
    fn from_text(value: Option<String>) -> Self {
        Formatted {
            value,
            ..Formatted::default()
        }
    }
}

/// An object read as `T`, a string or number as [`FromText::from_text`]; anything else absent.
struct ObjectOrText<T>(Option<T>);

impl<'de, T: FromText> de::Deserialize<'de> for ObjectOrText<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectOrTextVisitor(PhantomData))
    }
}

struct ObjectOrTextVisitor<T>(PhantomData<T>);

fn from_text<T: FromText>(text: Leaf) -> ObjectOrText<T> {
    ObjectOrText(Some(T::from_text(text.string())))
}

impl<'de, T: FromText> Visitor<'de> for ObjectOrTextVisitor<T> {
    type Value = ObjectOrText<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Struct(PhantomData)
            .visit_map(map)
            .map(|t| ObjectOrText(Some(t)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        LeafVisitor.visit_str(s).map(from_text)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        LeafVisitor.visit_i64(n).map(from_text)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        LeafVisitor.visit_u64(n).map(from_text)
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        LeafVisitor.visit_f64(n).map(from_text)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ObjectOrText(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ObjectOrText(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        SkipVisitor.visit_seq(seq).map(|_| ObjectOrText(None))
    }
}

/// A polygon entry: an object whose (last) `vertices` is an array; anything else dropped.
#[derive(Default)]
struct PolyEntry {
    vertices: Option<Vec<Vertex>>,
}

impl FromObject for PolyEntry {
    const KEYS: &'static [&'static str] = &["vertices"];
    fn member<'de, A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.vertices = map.next_value::<Listed<Vertex>>()?.0;
        Ok(())
    }
}

impl Element for Poly {
    const CAP: usize = MAX_POLYS;
    fn read<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error> {
        Ok(seq.next_element::<Lax<PolyEntry>>()?.map(|p| {
            p.0.and_then(|p| p.vertices)
                .map(|vertices| Poly { vertices })
        }))
    }
    fn lone<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Self>, D::Error> {
        Skip::deserialize_from(d).map(|_| Vec::new())
    }
}

impl Skip {
    fn deserialize_from<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <Self as de::Deserialize>::deserialize(d)
    }
}

/// A vertex entry: an object with numeric `x` and `y`; anything else dropped.
#[derive(Default)]
struct VertexEntry {
    x: Option<f64>,
    y: Option<f64>,
}

impl FromObject for VertexEntry {
    const KEYS: &'static [&'static str] = &["x", "y"];
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        let v = leaf(map)?.float();
        if k == 0 {
            self.x = v
        } else {
            self.y = v
        }
        Ok(())
    }
}

impl Element for Vertex {
    const CAP: usize = MAX_VERTICES;
    fn read<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<Option<Option<Self>>, A::Error> {
        Ok(seq.next_element::<Lax<VertexEntry>>()?.map(|v| {
            let v = v.0?;
            Some(Vertex { x: v.x?, y: v.y? })
        }))
    }
    fn lone<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Self>, D::Error> {
        Skip::deserialize_from(d).map(|_| Vec::new())
    }
}

/// An array read as a [`Capped`] list of `E`; anything else is `None`.
struct Listed<E>(Option<Vec<E>>);

impl<'de, E: Element> de::Deserialize<'de> for Listed<E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListedVisitor(PhantomData))
    }
}

struct ListedVisitor<E>(PhantomData<E>);

impl<'de, E: Element> Visitor<'de> for ListedVisitor<E> {
    type Value = Listed<E>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    otherwise!(Listed(None));
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Listed<E>, A::Error> {
        CappedVisitor(PhantomData)
            .visit_seq(seq)
            .map(|c: Capped<E>| Listed(Some(c.items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Listed<E>, A::Error> {
        SkipVisitor.visit_map(map).map(|_| Listed(None))
    }
}

/// The strings of an array, the first `N` of them; anything else is `None`.
struct Strings<const N: usize>(Option<Vec<String>>);

impl<'de, const N: usize> de::Deserialize<'de> for Strings<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringsVisitor::<N>)
    }
}

struct StringsVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for StringsVisitor<N> {
    type Value = Strings<N>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    otherwise!(Strings(None));
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strings<N>, A::Error> {
        let mut out = Vec::new();
        while let Some(Leaf(v)) = seq.next_element::<Leaf>()? {
            if let (Value::String(s), true) = (v, out.len() < N) {
                out.push(s);
            }
        }
        Ok(Strings(Some(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Strings<N>, A::Error> {
        SkipVisitor.visit_map(map).map(|_| Strings(None))
    }
}

// ---- the model's objects ----

impl FromObject for OcrResponse {
    const KEYS: &'static [&'static str] = &["version", "requestId", "timestamp", "images"];
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        match k {
            0 => self.version = leaf(map)?.string(),
            1 => self.request_id = leaf(map)?.string(),
            2 => self.timestamp = leaf(map)?.int(),
            _ => self.images = map.next_value::<Images>()?.0,
        }
        Ok(())
    }
}

/// `images`: `null` is none, an array's first [`MAX_IMAGES`] entries must be objects.
struct Images(Vec<ImageResult>);

impl<'de> de::Deserialize<'de> for Images {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(ImagesVisitor)
    }
}

struct ImagesVisitor;

impl<'de> Visitor<'de> for ImagesVisitor {
    type Value = Images;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Images, E> {
        Ok(Images(Vec::new()))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Images, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Images, A::Error> {
        let mut out = Vec::new();
        loop {
            if out.len() < MAX_IMAGES {
                match seq.next_element::<ImageObject>()? {
                    Some(ImageObject(i)) => out.push(i),
                    None => break,
                }
            } else if seq.next_element::<Skip>()?.is_none() {
                break;
            }
        }
        Ok(Images(out))
    }
}

struct ImageObject(ImageResult);

impl<'de> de::Deserialize<'de> for ImageObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Struct(PhantomData)).map(ImageObject)
    }
}

impl FromObject for ImageResult {
    const KEYS: &'static [&'static str] = &[
        "uid",
        "name",
        "inferResult",
        "message",
        "validationResult",
        "idCard",
    ];
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        match k {
            0 => self.uid = leaf(map)?.string(),
            1 => self.name = leaf(map)?.string(),
            2 => {
                self.infer_result = leaf(map)?
                    .string()
                    .map(|s| InferResult::from_wire(&s))
                    .unwrap_or_default()
            }
            3 => self.message = leaf(map)?.string(),
            4 => self.validation_result = map.next_value::<Lax<ValidationResult>>()?.0,
            _ => self.id_card = map.next_value::<Member<IdCard>>()?.0,
        }
        Ok(())
    }
}

impl FromObject for ValidationResult {
    const KEYS: &'static [&'static str] = &["result", "message"];
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        let v = leaf(map)?.string();
        if k == 0 {
            self.result = v
        } else {
            self.message = v
        }
        Ok(())
    }
}

impl FromObject for Meta {
    const KEYS: &'static [&'static str] = &["estimatedLanguage"];
    fn member<'de, A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.estimated_language = leaf(map)?.string();
        Ok(())
    }
}

impl FromObject for IdCard {
    const KEYS: &'static [&'static str] = &["meta", "result"];
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        match k {
            0 => self.meta = map.next_value::<Lax<Meta>>()?.0,
            _ => {
                self.result = map
                    .next_value::<Member<ResultObject>>()?
                    .0
                    .map(|r| r.finish_result())
            }
        }
        Ok(())
    }
}

/// `idCard.result` while it is read: the members that decide `other_sections` and `id_type`
/// are only combined at the end.
#[derive(Default)]
struct ResultObject {
    result: IdCardResult,
    id_type: Option<String>,
    idtype: Option<String>,
    /// Which of [`OTHER_SECTIONS`] are present and not `null` (last copy wins).
    sections: [bool; OTHER_SECTIONS.len()],
    listed: Option<Vec<String>>,
}

impl FromObject for ResultObject {
    const KEYS: &'static [&'static str] = &[
        "isConfident",
        "idType",
        "idtype",
        "pp",
        "rois",
        "otherSections",
        "ic",
        "dl",
        "ac",
    ];
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        match k {
            0 => self.result.is_confident = leaf(map)?.boolean(),
            1 => self.id_type = leaf(map)?.string(),
            2 => self.idtype = leaf(map)?.string(),
            3 => self.result.pp = map.next_value::<Member<PpObject>>()?.0.map(|p| p.0),
            4 => self.result.rois = map.next_value::<Capped<Poly>>()?.items,
            5 => self.listed = map.next_value::<Strings<{ usize::MAX }>>()?.0,
            _ => self.sections[k - 6] = map.next_value::<Present>()?.0,
        }
        Ok(())
    }
}

/// Whether a member is there and not `null` (its content is skipped).
struct Present(bool);

impl<'de> de::Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_option(PresentVisitor)
    }
}

struct PresentVisitor;

impl<'de> Visitor<'de> for PresentVisitor {
    type Value = Present;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_none<E: de::Error>(self) -> Result<Present, E> {
        Ok(Present(false))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Present, D::Error> {
        Skip::deserialize_from(d).map(|_| Present(true))
    }
}

impl ResultObject {
    fn finish_result(self) -> IdCardResult {
        let mut result = self.result;
        result.id_type = self.id_type.or(self.idtype);
        let mut other: Vec<String> = OTHER_SECTIONS
            .iter()
            .zip(self.sections)
            .filter(|(_, present)| *present)
            .map(|(k, _)| (*k).to_owned())
            .collect();
        for s in self.listed.unwrap_or_default() {
            if OTHER_SECTIONS.contains(&s.as_str()) && !other.contains(&s) {
                other.push(s);
            }
        }
        result.other_sections = other;
        result
    }
}

/// The wire names of the `pp` fields, in the order `truncated` lists them.
const PP_FIELDS: [&str; 16] = [
    "type",
    "issueCountry",
    "num",
    "surName",
    "givenName",
    "nationality",
    "birthDate",
    "sex",
    "issueDate",
    "expireDate",
    "authority",
    "fullNameKor",
    "mrz1",
    "mrz2",
    "condition",
    "organDonation",
];

const PP_KEYS: [&str; 17] = {
    let mut keys = [""; 17];
    let mut i = 0;
    while i < PP_FIELDS.len() {
        keys[i] = PP_FIELDS[i];
        i += 1;
    }
    keys[16] = "truncated";
    keys
};

#[derive(Default)]
struct PpObject(PassportFields, [bool; 16], Option<Vec<String>>);

impl PassportFields {
    fn slot(&mut self, i: usize) -> &mut Vec<Candidate> {
        match i {
            0 => &mut self.r#type,
            1 => &mut self.issue_country,
            2 => &mut self.num,
            3 => &mut self.sur_name,
            4 => &mut self.given_name,
            5 => &mut self.nationality,
            6 => &mut self.birth_date,
            7 => &mut self.sex,
            8 => &mut self.issue_date,
            9 => &mut self.expire_date,
            10 => &mut self.authority,
            11 => &mut self.full_name_kor,
            12 => &mut self.mrz1,
            13 => &mut self.mrz2,
            14 => &mut self.condition,
            _ => &mut self.organ_donation,
        }
    }
}

impl FromObject for PpObject {
    const KEYS: &'static [&'static str] = &PP_KEYS;
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        if k < PP_FIELDS.len() {
            let list = map.next_value::<Capped<Candidate>>()?;
            *self.0.slot(k) = list.items;
            self.1[k] = list.cut;
        } else {
            self.2 = map.next_value::<Strings<32>>()?.0;
        }
        Ok(())
    }
    fn finish(mut self) -> Self {
        let mut truncated: Vec<String> = PP_FIELDS
            .iter()
            .zip(self.1)
            .filter(|(_, cut)| *cut)
            .map(|(k, _)| (*k).to_owned())
            .collect();
        for s in self.2.take().unwrap_or_default() {
            if !truncated.contains(&s) {
                truncated.push(s);
            }
        }
        self.0.truncated = truncated;
        self
    }
}

impl FromObject for Candidate {
    const KEYS: &'static [&'static str] = &[
        "text",
        "formatted",
        "keyText",
        "confidenceScore",
        "boundingPolys",
        "maskingPolys",
    ];
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        match k {
            0 => self.text = leaf(map)?.string(),
            1 => self.formatted = map.next_value::<ObjectOrText<Formatted>>()?.0,
            2 => self.key_text = leaf(map)?.string(),
            3 => self.confidence_score = leaf(map)?.float(),
            4 => self.bounding_polys = map.next_value::<Capped<Poly>>()?.items,
            _ => self.masking_polys = map.next_value::<Capped<Poly>>()?.items,
        }
        Ok(())
    }
}

impl FromObject for Formatted {
    const KEYS: &'static [&'static str] = &["value", "year", "month", "day"];
    fn member<'de, A: MapAccess<'de>>(&mut self, k: usize, map: &mut A) -> Result<(), A::Error> {
        let v = leaf(map)?.string();
        match k {
            0 => self.value = v,
            1 => self.year = v,
            2 => self.month = v,
            _ => self.day = v,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The fast reading against the tree reader on generated bodies: shaped like answers,
    //! with every member at times of the wrong type, duplicated or unknown (the caps are in
    //! `caps` below).

    use proptest::prelude::*;

    use super::super::{lenient, parse_json, parse_response};
    use super::response;

    const VENDOR: &[u8] = include_bytes!("../../tests/fixtures/vendor_example.json");

    type S = BoxedStrategy<String>;

    fn scalar() -> S {
        prop_oneof![
            Just("null"),
            Just("true"),
            Just("false"),
            Just("0"),
            Just("-0"),
            Just("-0.0"),
            Just("1.0"),
            Just("12"),
            Just("-7"),
            Just("2.5e3"),
            Just("1e300"),
            Just("18446744073709551615"),
            Just("9223372036854775808"),
            Just("123456789012345678901234567890"),
            Just(r#""""#),
            Just(r#""abc""#),
            Just(r#"" 12 ""#),
            Just(r#""TRUE""#),
            Just(r#""success""#),
            Just(r#""Passport""#),
            Just(r#""ic""#),
            Just(r#""num""#),
            Just(r#""M1234567\n\t\"x\"""#),
            Just(r#""\u00e9\ud83d\ude00""#),
            Just(r#""\ud800""#),
            Just(r#""0.75""#),
        ]
        .prop_map(str::to_owned)
        .boxed()
    }

    /// Any JSON value, nested a little, with keys from the model and outside it.
    fn any() -> S {
        scalar()
            .prop_recursive(3, 12, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4)
                        .prop_map(|v| format!("[{}]", v.join(","))),
                    // Distinct keys: a key given twice is for `obj(.., true)` to make.
                    prop::collection::btree_map(
                        prop::sample::select(&["x", "text", "vertices", "pp", "ic", "zz"][..]),
                        inner,
                        0..4
                    )
                    .prop_map(|m| object(&m.into_iter().collect::<Vec<_>>())),
                ]
            })
            .boxed()
    }

    fn object(members: &[(&str, String)]) -> String {
        let inner: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
            .collect();
        format!("{{{}}}", inner.join(","))
    }

    /// An object with each of `fields` present or not (each with its own values), in any
    /// order, an unknown member now and then, and with `dups` some members given twice.
    fn obj(fields: Vec<(&'static str, S)>, dups: bool) -> S {
        let members: Vec<BoxedStrategy<(&'static str, String)>> = fields
            .into_iter()
            .map(|(k, s)| s.prop_map(move |v| (k, v)).boxed())
            .chain(std::iter::once(
                any().prop_map(|v| ("unknownMember", v)).boxed(),
            ))
            .collect();
        let again = prop::collection::vec(
            prop::strategy::Union::new(members.clone()),
            if dups { 0..3 } else { 0..1 },
        );
        let present: Vec<_> = members
            .into_iter()
            .map(|m| prop::option::weighted(0.7, m))
            .collect();
        (present, again)
            .prop_flat_map(|(present, again)| {
                let mut m: Vec<_> = present.into_iter().flatten().collect();
                m.extend(again);
                Just(m).prop_shuffle()
            })
            .prop_map(|m| object(&m))
            .boxed()
    }

    /// Mostly `shaped`, sometimes anything at all.
    fn or_any(shaped: S) -> S {
        prop_oneof![12 => shaped, 1 => any()].boxed()
    }

    /// Mostly `shaped`, often a lone string, number, `true` or `null` (which candidates and
    /// `formatted` read as text, or drop), sometimes anything at all. With `or_any` alone and
    /// 600 cases, a bare scalar this deep was too rare: hand mutations of `ObjectOrText` (a
    /// lone string, number, bool, null or array misread, a lone candidate or a `formatted`
    /// value lost) passed the tests; with this and 4 000 cases each of 9 such mutations
    /// fails them.
    fn or_text(shaped: S) -> S {
        prop_oneof![8 => shaped, 3 => scalar(), 1 => any()].boxed()
    }

    fn list(item: S, max: usize) -> S {
        prop::collection::vec(item, 0..max)
            .prop_map(|v| format!("[{}]", v.join(",")))
            .boxed()
    }

    fn answer(dups: bool) -> S {
        let vertex = or_any(obj(vec![("x", scalar()), ("y", scalar())], dups));
        let poly = or_any(obj(vec![("vertices", or_any(list(vertex, 4)))], dups));
        let polys = or_any(list(poly, 3));
        let formatted = or_text(obj(
            ["value", "year", "month", "day"]
                .into_iter()
                .map(|k| (k, scalar()))
                .collect(),
            dups,
        ));
        let candidate = or_text(obj(
            vec![
                ("text", scalar()),
                ("formatted", formatted),
                ("keyText", scalar()),
                ("confidenceScore", scalar()),
                ("boundingPolys", polys.clone()),
                ("maskingPolys", polys.clone()),
            ],
            dups,
        ));
        let candidates = prop_oneof![
            3 => list(candidate.clone(), 4),
            1 => candidate,
        ]
        .boxed();
        let mut pp_fields: Vec<(&'static str, S)> = super::PP_FIELDS
            .into_iter()
            .map(|k| (k, candidates.clone()))
            .collect();
        let names = prop_oneof![
            scalar(),
            prop::sample::select(&super::PP_FIELDS[..]).prop_map(|k| format!("{k:?}"))
        ]
        .boxed();
        pp_fields.push(("truncated", or_any(list(names, 4))));
        let pp = or_any(obj(pp_fields, dups));
        let result = or_any(obj(
            vec![
                ("isConfident", scalar()),
                ("idType", scalar()),
                ("idtype", scalar()),
                ("pp", pp),
                ("rois", polys),
                ("otherSections", or_any(list(scalar(), 4))),
                ("ic", prop_oneof![Just("null".to_owned()), any()].boxed()),
                ("dl", prop_oneof![Just("null".to_owned()), any()].boxed()),
                ("ac", prop_oneof![Just("null".to_owned()), any()].boxed()),
            ],
            dups,
        ));
        let meta = or_any(obj(vec![("estimatedLanguage", scalar())], dups));
        let id_card = or_any(obj(vec![("meta", meta), ("result", result)], dups));
        let validation = or_any(obj(vec![("result", scalar()), ("message", scalar())], dups));
        let image = or_any(obj(
            vec![
                ("uid", scalar()),
                ("name", scalar()),
                ("inferResult", scalar()),
                ("message", scalar()),
                ("validationResult", validation),
                ("idCard", id_card),
            ],
            dups,
        ));
        let images = list(image, 3);
        or_any(obj(
            vec![
                ("version", scalar()),
                ("requestId", scalar()),
                ("timestamp", scalar()),
                ("images", or_any(images)),
            ],
            dups,
        ))
    }

    fn tree(body: &str) -> Result<super::OcrResponse, super::super::ResponseError> {
        lenient::response(&parse_json(body.as_bytes())?)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever the fast reading gives, the tree gives too; with no key given twice it
        /// declines nothing the tree reads.
        #[test]
        fn agrees_with_the_tree_without_duplicates(body in answer(false)) {
            let fast = response(body.as_bytes());
            match tree(&body) {
                Ok(slow) => prop_assert_eq!(fast, Some(slow), "{}", body),
                Err(_) => prop_assert!(fast.is_none(), "{}", body),
            }
        }

        /// With keys given twice, the fast reading may decline, but never disagrees.
        #[test]
        fn never_disagrees_with_duplicates(body in answer(true)) {
            if let Some(fast) = response(body.as_bytes()) {
                prop_assert_eq!(Ok(fast), tree(&body), "{}", body);
            }
            prop_assert_eq!(parse_response(body.as_bytes()), tree(&body), "{}", body);
        }
    }

    #[test]
    fn the_vendor_example_takes_the_fast_path() {
        let body = std::str::from_utf8(VENDOR).unwrap();
        assert_eq!(response(VENDOR), Some(tree(body).unwrap()));
    }

    #[test]
    fn a_duplicated_container_whose_first_copy_is_wrong_goes_to_the_tree() {
        let body = r#"{"images":[{"idCard":"x","idCard":{"result":{"ic":{}}}}]}"#;
        assert_eq!(response(body.as_bytes()), None);
        let r = parse_response(body.as_bytes()).unwrap();
        let result = r.images[0]
            .id_card
            .as_ref()
            .unwrap()
            .result
            .as_ref()
            .unwrap();
        assert_eq!(result.other_sections, ["ic"]);
    }

    #[test]
    fn a_lone_surrogate_in_an_unknown_member_is_refused_as_the_tree_refuses_it() {
        let body = r#"{"images":[],"extra":{"k":"\ud800"}}"#;
        assert_eq!(response(body.as_bytes()), None);
        assert!(parse_response(body.as_bytes()).is_err());
    }
}

#[cfg(test)]
mod caps {
    //! Every cap at its edge and one over, and the section markers, read both ways.

    use super::super::{MAX_POLYS, MAX_VERTICES, lenient, parse_json};
    use super::response;

    fn both(body: &str) {
        let tree = lenient::response(&parse_json(body.as_bytes()).unwrap()).unwrap();
        assert_eq!(response(body.as_bytes()), Some(tree), "{body}");
    }

    fn n_of(item: &str, n: usize) -> String {
        format!("[{}]", vec![item; n].join(","))
    }

    #[test]
    fn at_and_over_each_cap() {
        let answer = |pp: &str, rois: &str| {
            format!(r#"{{"images":[{{"idCard":{{"result":{{"pp":{pp},"rois":{rois}}}}}}}]}}"#)
        };
        for extra in [0, 1] {
            let vertices = n_of(r#"{"x":1,"y":"2"}"#, MAX_VERTICES + extra);
            both(&answer("{}", &format!(r#"[{{"vertices":{vertices}}}]"#)));
            both(&answer(
                "{}",
                &n_of(r#"{"vertices":[]}"#, MAX_POLYS + extra),
            ));
            let candidates = n_of(r#"{"text":"A"}"#, 32 + extra);
            // Distinct names, none of them `num`: what is cut and what is listed both show.
            let names: Vec<String> = (0..32 + extra).map(|i| format!(r#""f{i}""#)).collect();
            let names = format!("[{}]", names.join(","));
            both(&answer(
                &format!(r#"{{"num":{candidates},"sex":7,"truncated":{names}}}"#),
                "[]",
            ));
            both(&format!(
                r#"{{"images":{}}}"#,
                n_of(r#"{"uid":1}"#, 16 + extra)
            ));
        }
    }

    #[test]
    fn section_markers_and_names() {
        both(
            r#"{"images":[{"idCard":{"result":{"ic":null,"dl":{},"ac":0,"otherSections":["ac","ic","x",1]}}}]}"#,
        );
        both(r#"{"images":[{"idCard":{"result":{"ic":{},"ic":null,"idtype":"pp"}}}]}"#);
    }
}
