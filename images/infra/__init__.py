"""What the domain talks to: file storage, URL fetching, the database's outages and counters,
the rendition cache, the machine's decode memory budget."""
