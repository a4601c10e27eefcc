//! A valid component of another world: it exports `run`, not the agent world.

wit_bindgen::generate!({
    inline: "
        package other:thing;
        world other {
            export run: func() -> u32;
        }
    ",
});

struct Other;

impl Guest for Other {
    fn run() -> u32 {
        42
    }
}

export!(Other);
