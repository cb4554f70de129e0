"""Pure image work (Pillow and numpy, no ORM, no HTTP): decode and checks, hashing, crop,
renditions' pixels, the visual diff."""
