# docs/julia.md: its ```julia blocks run in order (the tutorial works), and
# examples/reconstruct.jl is the same code as those blocks.
const REPO = normpath(joinpath(@__DIR__, "..", "..", ".."))

"The ```julia blocks of a Markdown file, in order."
function julia_blocks(path)
    blocks = String[]
    current = nothing
    for line in eachline(path)
        if current === nothing
            startswith(line, "```julia") && (current = String[])
        elseif startswith(line, "```")
            push!(blocks, join(current, "\n"))
            current = nothing
        else
            push!(current, line)
        end
    end
    return blocks
end

code_lines(text) = filter(l -> !isempty(l) && !startswith(l, "#"), strip.(split(text, "\n")))

@testset "docs/julia.md runs and examples/reconstruct.jl is its code" begin
    blocks = julia_blocks(joinpath(REPO, "docs", "julia.md"))
    @test length(blocks) >= 4
    @test code_lines(join(blocks, "\n")) == code_lines(read(joinpath(REPO, "examples", "reconstruct.jl"), String))
    sandbox = Module(:JuliaDoc)
    Core.eval(sandbox, :(include(path) = Base.include($sandbox, path)))
    output = mktemp() do path, io
        redirect_stdout(io) do
            for block in blocks
                Base.include_string(sandbox, block, "docs/julia.md")
            end
        end
        flush(io)
        read(path, String)
    end
    @test occursin("resolution (FSC = 0.5 vs phantom)", output)
    # the reconstruction resolves the phantom well short of Nyquist (8 Å) but near it
    res = Core.eval(sandbox, :res)
    @test res !== nothing && 8.0 < res < 12.0
end
